// Package socks is a small SOCKS5 client (RFC 1928, with RFC 1929
// username/password authentication) made for talking to Tor's SocksPort.
//
// It differs from golang.org/x/net/proxy in the two ways tails-server needs:
// a refused connection comes back as a *ReplyError carrying the reply code,
// including Tor's extended codes for onion services (0xF0–0xF7, see Tor
// proposal 304 and ExtendedErrors in tor's manual), so callers can tell
// "descriptor not found yet" from "wrong client authorization"; and the whole
// handshake honours the context's deadline and cancellation.
//
// Host names, .onion names included, are always sent to the proxy as
// domain names (ATYP 3) and never resolved locally; only IP literals are
// sent as addresses.
package socks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Reply codes of RFC 1928 section 6 and Tor's extended codes.
const (
	CodeGeneralFailure       byte = 0x01 // general SOCKS server failure
	CodeNotAllowed           byte = 0x02 // connection not allowed by ruleset
	CodeNetworkUnreachable   byte = 0x03 // network unreachable
	CodeHostUnreachable      byte = 0x04 // host unreachable
	CodeConnectionRefused    byte = 0x05 // connection refused
	CodeTTLExpired           byte = 0x06 // TTL expired (Tor: timed out)
	CodeCommandNotSupported  byte = 0x07 // command not supported
	CodeAddrTypeNotSupported byte = 0x08 // address type not supported

	CodeOnionDescNotFound  byte = 0xF0 // onion service descriptor can not be found
	CodeOnionDescInvalid   byte = 0xF1 // onion service descriptor is invalid
	CodeOnionIntroFailed   byte = 0xF2 // onion service introduction failed
	CodeOnionRendFailed    byte = 0xF3 // onion service rendezvous failed
	CodeOnionMissingAuth   byte = 0xF4 // onion service missing client authorization
	CodeOnionWrongAuth     byte = 0xF5 // onion service wrong client authorization
	CodeOnionBadAddress    byte = 0xF6 // invalid onion service address
	CodeOnionIntroTimedOut byte = 0xF7 // onion service introduction timed out
)

const (
	maxField                = 255 // longest user name, password or host name
	socksVersion       byte = 0x05
	authVersion        byte = 0x01
	methodNone         byte = 0x00
	methodUserPass     byte = 0x02
	methodNoAcceptable byte = 0xFF
	cmdConnect         byte = 0x01
	atypIPv4           byte = 0x01
	atypDomain         byte = 0x03
	atypIPv6           byte = 0x04
)

var codeText = map[byte]string{
	CodeGeneralFailure:       "general SOCKS server failure",
	CodeNotAllowed:           "connection not allowed by ruleset",
	CodeNetworkUnreachable:   "network unreachable",
	CodeHostUnreachable:      "host unreachable",
	CodeConnectionRefused:    "connection refused",
	CodeTTLExpired:           "TTL expired",
	CodeCommandNotSupported:  "command not supported",
	CodeAddrTypeNotSupported: "address type not supported",
	CodeOnionDescNotFound:    "onion service descriptor can not be found",
	CodeOnionDescInvalid:     "onion service descriptor is invalid",
	CodeOnionIntroFailed:     "onion service introduction failed",
	CodeOnionRendFailed:      "onion service rendezvous failed",
	CodeOnionMissingAuth:     "onion service missing client authorization",
	CodeOnionWrongAuth:       "onion service wrong client authorization",
	CodeOnionBadAddress:      "invalid onion service address",
	CodeOnionIntroTimedOut:   "onion service introduction timed out",
}

// Auth holds RFC 1929 credentials. Tor accepts any values and, with
// IsolateSOCKSAuth (its default), puts streams with different credentials
// on different circuits. Each field is at most 255 bytes.
type Auth struct {
	Username string
	Password string
}

// String hides the password.
func (a Auth) String() string {
	return "socks.Auth{Username:" + strconv.Quote(a.Username) + ", Password:REDACTED}"
}

// ReplyError is a refusal by the proxy: a CONNECT reply with a non-zero
// code. Use errors.As or IsCode to inspect it.
type ReplyError struct {
	Code byte
}

// Error returns the code's meaning and its value, e.g. "socks: onion
// service descriptor can not be found (0xf0)".
func (e *ReplyError) Error() string {
	if t, ok := codeText[e.Code]; ok {
		return fmt.Sprintf("socks: %s (%#02x)", t, e.Code)
	}
	return fmt.Sprintf("socks: unknown reply code %#02x", e.Code)
}

// IsCode reports whether err is, or wraps, a *ReplyError with the given
// code.
func IsCode(err error, code byte) bool {
	var re *ReplyError
	return errors.As(err, &re) && re.Code == code
}

// Dial connects to target ("host:port") through the SOCKS5 proxy at
// proxyAddr ("127.0.0.1:9050", or "unix:/path" for a unix socket, as tor's
// GETINFO net/listeners/socks names one), authenticating with auth if it is not nil.
// The context bounds the TCP connection and the whole SOCKS handshake; it
// has no effect on the returned connection. A refusal by the proxy is
// returned as a *ReplyError (wrapped with the target's name).
func Dial(ctx context.Context, proxyAddr, target string, auth *Auth) (net.Conn, error) {
	req, err := connectRequest(target)
	if err != nil {
		return nil, err
	}
	if auth != nil {
		if len(auth.Username) > maxField || len(auth.Password) > maxField {
			return nil, errors.New("socks: user name and password must be at most 255 bytes each")
		}
	}
	var d net.Dialer
	network, addr := "tcp", proxyAddr
	if path, ok := strings.CutPrefix(proxyAddr, "unix:"); ok {
		network, addr = "unix", path
	}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("socks: connecting to proxy %s: %w", proxyAddr, err)
	}
	if err := handshake(ctx, conn, req, auth); err != nil {
		conn.Close()
		var re *ReplyError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("socks: connect to %s via %s: %w", target, proxyAddr, err)
		}
		return nil, err
	}
	return conn, nil
}

// connectRequest builds the CONNECT request for target.
func connectRequest(target string) ([]byte, error) {
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("socks: bad target %q: %v", target, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("socks: bad port in target %q", target)
	}
	req := []byte{socksVersion, cmdConnect, 0}
	ip := net.ParseIP(host)
	switch {
	case ip != nil && ip.To4() != nil:
		req = append(req, atypIPv4)
		req = append(req, ip.To4()...)
	case ip != nil:
		req = append(req, atypIPv6)
		req = append(req, ip.To16()...)
	default:
		if host == "" || len(host) > maxField {
			return nil, fmt.Errorf("socks: host name must be 1 to 255 bytes long, not %d", len(host))
		}
		req = append(req, atypDomain, byte(len(host)))
		req = append(req, host...)
	}
	return append(req, byte(port>>8), byte(port)), nil
}

// handshake runs method negotiation, authentication and CONNECT on conn,
// bounded by ctx.
func handshake(ctx context.Context, conn net.Conn, req []byte, auth *Auth) (err error) {
	dl, hasDeadline := ctx.Deadline()
	if hasDeadline {
		conn.SetDeadline(dl)
	}
	// On cancellation, unblock any read or write at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() || ctx.Err() != nil {
			err = fmt.Errorf("socks: handshake: %w", context.Cause(ctx))
			return
		}
		var ne net.Error
		if hasDeadline && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(dl) {
			err = fmt.Errorf("socks: handshake: %w", context.DeadlineExceeded)
			return
		}
		if err == nil {
			err = conn.SetDeadline(time.Time{})
		}
	}()

	method := methodNone
	if auth != nil {
		method = methodUserPass
	}
	if _, err := conn.Write([]byte{socksVersion, 1, method}); err != nil {
		return fmt.Errorf("socks: sending greeting: %w", err)
	}
	var sel [2]byte
	if err := readFull(conn, sel[:], "method selection"); err != nil {
		return err
	}
	if sel[0] != socksVersion {
		return fmt.Errorf("socks: malformed reply from proxy: version %#02x in method selection, want 0x05", sel[0])
	}
	switch sel[1] {
	case method:
	case methodNoAcceptable:
		if auth != nil {
			return errors.New("socks: proxy accepts no user name/password authentication")
		}
		return errors.New("socks: proxy requires authentication")
	default:
		return fmt.Errorf("socks: malformed reply from proxy: it chose method %#02x, which was not offered", sel[1])
	}
	if auth != nil {
		msg := []byte{authVersion, byte(len(auth.Username))}
		msg = append(msg, auth.Username...)
		msg = append(msg, byte(len(auth.Password)))
		msg = append(msg, auth.Password...)
		if _, err := conn.Write(msg); err != nil {
			return fmt.Errorf("socks: sending credentials: %w", err)
		}
		var st [2]byte
		if err := readFull(conn, st[:], "authentication reply"); err != nil {
			return err
		}
		if st[0] != authVersion {
			return fmt.Errorf("socks: malformed reply from proxy: version %#02x in authentication reply, want 0x01", st[0])
		}
		if st[1] != 0 {
			return fmt.Errorf("socks: proxy rejected the credentials (status %#02x)", st[1])
		}
	}

	if _, err := conn.Write(req); err != nil {
		return fmt.Errorf("socks: sending connect request: %w", err)
	}
	var hdr [4]byte
	if err := readFull(conn, hdr[:], "connect reply"); err != nil {
		return err
	}
	if hdr[0] != socksVersion {
		return fmt.Errorf("socks: malformed reply from proxy: version %#02x in connect reply, want 0x05", hdr[0])
	}
	if hdr[1] != 0 {
		return &ReplyError{Code: hdr[1]}
	}
	var n int
	switch hdr[3] {
	case atypIPv4:
		n = 4
	case atypIPv6:
		n = 16
	case atypDomain:
		var l [1]byte
		if err := readFull(conn, l[:], "connect reply"); err != nil {
			return err
		}
		n = int(l[0])
	default:
		return fmt.Errorf("socks: malformed reply from proxy: unknown address type %#02x in connect reply", hdr[3])
	}
	rest := make([]byte, n+2) // bound address and port, unused
	return readFull(conn, rest, "connect reply")
}

// readFull reads len(b) bytes, naming what was expected in its error.
func readFull(conn net.Conn, b []byte, what string) error {
	if _, err := io.ReadFull(conn, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
			return fmt.Errorf("socks: malformed reply from proxy: connection closed during %s", what)
		}
		return fmt.Errorf("socks: reading %s: %w", what, err)
	}
	return nil
}

package isoproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
)

// SOCKS5 constants (RFC 1928, RFC 1929).
const (
	socksVersion  byte = 0x05
	authVersion   byte = 0x01
	methodNone    byte = 0x00
	methodUser    byte = 0x02
	methodNoneOK  byte = 0xFF
	cmdConnect    byte = 0x01
	atypIPv4      byte = 0x01
	atypDomain    byte = 0x03
	atypIPv6      byte = 0x04
	codeGeneral   byte = 0x01
	codeCommand   byte = 0x07
	codeAddrType  byte = 0x08
	socks4Version byte = 0x04
)

// request is a client's parsed CONNECT request.
type request struct {
	host string // IP literal text or domain name (lower case not implied)
	port uint16
	cred *credential // nil without RFC 1929 authentication
}

// reply is a CONNECT reply with code and an unspecified bound address
// (0.0.0.0:0), which is what Tor sends too.
func reply(code byte) []byte {
	return []byte{socksVersion, code, 0, atypIPv4, 0, 0, 0, 0, 0, 0}
}

// httpRefusal answers a client that spoke HTTP to the SOCKS port.
const httpRefusal = "HTTP/1.0 501 Not a HTTP proxy\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" +
	"This is a SOCKS5 proxy (tails-server isolation proxy), not an HTTP proxy: configure your client for SOCKS5.\r\n"

// handshake reads the greeting, the optional RFC 1929 authentication and
// the request from rw, answering the first two. It reads exactly what the
// protocol says, so bytes the client sends early (before the reply) stay
// in the connection for the stream. On error it has already written the
// refusal the client should get: a SOCKS5 method refusal, an RFC 1929
// failure, a CONNECT reply with the code that fits, a SOCKS4 refusal, or
// an HTTP 501.
func handshake(rw io.ReadWriter, reserved func(string) bool) (*request, error) {
	var b [2]byte
	if _, err := io.ReadFull(rw, b[:]); err != nil {
		return nil, readErr("greeting", err)
	}
	switch {
	case b[0] == socks4Version:
		rw.Write([]byte{0, 0x5B, 0, 0, 0, 0, 0, 0}) // request rejected or failed
		return nil, errors.New("SOCKS4 request: only SOCKS5 is supported")
	case b[0] >= 'A' && b[0] <= 'Z':
		io.WriteString(rw, httpRefusal)
		return nil, errors.New("HTTP request: this is a SOCKS5 proxy")
	case b[0] != socksVersion:
		rw.Write([]byte{socksVersion, methodNoneOK})
		return nil, fmt.Errorf("unknown SOCKS version %#02x", b[0])
	}
	methods := make([]byte, b[1])
	if _, err := io.ReadFull(rw, methods); err != nil {
		return nil, readErr("greeting", err)
	}
	method := methodNoneOK
	for _, m := range methods {
		if m == methodUser {
			method = methodUser
			break
		}
		if m == methodNone {
			method = methodNone
		}
	}
	if _, err := rw.Write([]byte{socksVersion, method}); err != nil {
		return nil, err
	}
	if method == methodNoneOK {
		return nil, errors.New("client offers neither no-authentication nor username/password")
	}
	req := &request{}
	if method == methodUser {
		cred, err := readCredential(rw)
		if err == nil && reserved(cred.user) {
			err = errors.New("SOCKS username in the range Tor reserves (<torS0X>...)")
		}
		if err != nil {
			rw.Write([]byte{authVersion, 0x01})
			return nil, err
		}
		if _, err := rw.Write([]byte{authVersion, 0x00}); err != nil {
			return nil, err
		}
		req.cred = cred
	}

	var h [4]byte
	if _, err := io.ReadFull(rw, h[:]); err != nil {
		return nil, readErr("request", err)
	}
	if h[0] != socksVersion {
		rw.Write(reply(codeGeneral))
		return nil, fmt.Errorf("request with SOCKS version %#02x", h[0])
	}
	if h[1] != cmdConnect {
		rw.Write(reply(codeCommand))
		return nil, fmt.Errorf("command %#02x not supported: only CONNECT", h[1])
	}
	switch h[3] {
	case atypIPv4, atypIPv6:
		n := 4
		if h[3] == atypIPv6 {
			n = 16
		}
		ip := make([]byte, n)
		if _, err := io.ReadFull(rw, ip); err != nil {
			return nil, readErr("request", err)
		}
		req.host = net.IP(ip).String()
	case atypDomain:
		var l [1]byte
		if _, err := io.ReadFull(rw, l[:]); err != nil {
			return nil, readErr("request", err)
		}
		name := make([]byte, l[0])
		if _, err := io.ReadFull(rw, name); err != nil {
			return nil, readErr("request", err)
		}
		if err := checkName(name); err != nil {
			rw.Write(reply(codeGeneral))
			return nil, err
		}
		req.host = string(name)
		if n := len(name); name[0] == '[' && name[n-1] == ']' {
			req.host = string(name[1 : n-1]) // an IPv6 literal
		}
	default:
		rw.Write(reply(codeAddrType))
		return nil, fmt.Errorf("address type %#02x not supported", h[3])
	}
	var p [2]byte
	if _, err := io.ReadFull(rw, p[:]); err != nil {
		return nil, readErr("request", err)
	}
	req.port = uint16(p[0])<<8 | uint16(p[1])
	if req.port == 0 {
		rw.Write(reply(codeGeneral))
		return nil, errors.New("destination port 0")
	}
	return req, nil
}

// readCredential reads an RFC 1929 username/password request.
func readCredential(r io.Reader) (*credential, error) {
	var b [2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, readErr("authentication", err)
	}
	if b[0] != authVersion {
		return nil, fmt.Errorf("authentication version %#02x, want 0x01", b[0])
	}
	user := make([]byte, b[1])
	if _, err := io.ReadFull(r, user); err != nil {
		return nil, readErr("authentication", err)
	}
	if _, err := io.ReadFull(r, b[:1]); err != nil {
		return nil, readErr("authentication", err)
	}
	pass := make([]byte, b[0])
	if _, err := io.ReadFull(r, pass); err != nil {
		return nil, readErr("authentication", err)
	}
	return &credential{user: string(user), pass: string(pass)}, nil
}

// checkName accepts the host names Tor accepts as stream targets: ASCII
// letters, digits, '-', '_' and '.', or an IP literal (IPv6 possibly in
// brackets). Internationalized names must come punycoded.
func checkName(name []byte) error {
	if len(name) == 0 {
		return errors.New("empty destination name")
	}
	if ip := net.ParseIP(string(name)); ip != nil {
		return nil
	}
	if n := len(name); n > 2 && name[0] == '[' && name[n-1] == ']' && net.ParseIP(string(name[1:n-1])) != nil {
		return nil
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return fmt.Errorf("destination name holds byte %#02x: only letters, digits, '-', '_' and '.' (punycode for other scripts)", c)
		}
	}
	return nil
}

func readErr(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("connection closed during the %s", what)
	}
	return fmt.Errorf("reading the %s: %w", what, err)
}

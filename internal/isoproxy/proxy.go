// Package isoproxy is a SOCKS5 front proxy that gives Tor stream isolation
// to clients that cannot choose a SOCKS username themselves (issue 4,
// item 5): for every CONNECT it derives an isolation key — the
// destination's registrable domain in ModeSite, the client's connection
// group in ModeConn — and forwards the request to Tor's SocksPort with a
// SOCKS username derived from that key, so that a port with
// IsolateSOCKSAuth gives each key circuits of its own.
//
// The proxy speaks SOCKS5 (RFC 1928) to its clients, with the "no
// authentication" and username/password (RFC 1929) methods, CONNECT only,
// to IPv4, IPv6 and domain-name destinations. Names are never resolved
// locally; Tor resolves them at the exit. Tor's reply code, extended codes
// (0xF0–0xF7) included, goes back to the client unchanged. Once connected
// the two TCP connections are joined with io.Copy, which on Linux moves the
// bytes with splice(2) and copies nothing in user space.
//
// The upstream handshake uses internal/socks. The public suffix list comes
// from golang.org/x/net/publicsuffix (maintained by the Go team, already a
// dependency), which has the list compiled in: no file to find at run time.
package isoproxy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"tails-server/internal/socks"
)

// Defaults of Config.
const (
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultConnectTimeout matches Tor's own SocksTimeout (2 minutes).
	DefaultConnectTimeout = 2 * time.Minute
)

// Config configures a Server.
type Config struct {
	// Upstream is Tor's SocksPort, "127.0.0.1:9050". Required. For the
	// isolation to hold, that port must have IsolateSOCKSAuth (Tor's
	// default) and, for ModeSite to share circuits within a site, no
	// IsolateDestAddr/IsolateDestPort.
	Upstream string
	// Mode is ModeSite (the default) or ModeConn.
	Mode Mode
	// Secret keys the hash that turns isolation keys into SOCKS
	// usernames; nil means 32 random bytes per Server, so usernames change
	// with every start of the proxy.
	Secret []byte
	// Reserved reports whether a client's SOCKS username is reserved by
	// Tor; nil means "starts with ReservedPrefix". Such clients get an
	// authentication failure.
	Reserved func(username string) bool
	// HandshakeTimeout bounds a client's greeting, authentication and
	// request; 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// ConnectTimeout bounds the connection to Tor and Tor's answer; 0
	// means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Log receives one line per refused client or failed connection,
	// never a destination or a credential; nil discards.
	Log *slog.Logger
}

// Stats counts what a Server did since it started.
type Stats struct {
	Accepted  uint64 // client connections accepted
	Connected uint64 // streams Tor accepted and the proxy joined
	Refused   uint64 // clients refused for a bad or unsupported request
	Failed    uint64 // requests Tor refused, or Tor unreachable
}

// Server is a running proxy. Its methods are safe for concurrent use.
type Server struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	groups atomic.Uint64 // ModeConn: connection groups handed out

	mu     sync.Mutex
	lns    map[net.Listener]struct{}
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup

	accepted, connected, refused, failed atomic.Uint64
}

// New checks cfg and returns a Server; Serve starts it.
func New(cfg Config) (*Server, error) {
	if cfg.Upstream == "" {
		return nil, errors.New("isoproxy: no upstream: give Tor's SocksPort address")
	}
	if _, _, err := net.SplitHostPort(cfg.Upstream); err != nil {
		return nil, fmt.Errorf("isoproxy: bad upstream %q: want HOST:PORT", cfg.Upstream)
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeSite
	}
	if _, err := ParseMode(string(cfg.Mode)); err != nil {
		return nil, fmt.Errorf("isoproxy: %w", err)
	}
	if cfg.Secret == nil {
		cfg.Secret = make([]byte, 32)
		rand.Read(cfg.Secret)
	}
	if cfg.Reserved == nil {
		cfg.Reserved = func(u string) bool { return strings.HasPrefix(u, ReservedPrefix) }
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, ctx: ctx, cancel: cancel,
		lns: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}, nil
}

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("isoproxy: server closed")

// Serve accepts clients on ln until Close, and returns ErrClosed then, or
// the listener's error. It closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of file descriptors or similar: wait and go on.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.cfg.Log.Warn("isoproxy: accept failed, retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("isoproxy: accept: %w", err)
		}
		backoff = 0
		if !s.track(c) {
			c.Close()
			return ErrClosed
		}
		s.accepted.Add(1)
		go func() {
			defer s.untrack(c)
			s.serveConn(c)
		}()
	}
}

// track registers a client connection; false once the server is closed.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// trackUp registers a connection to Tor, so that Close can end it; false
// once the server is closed.
func (s *Server) trackUp(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrackUp(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Close stops every Serve, closes every client connection (and with it
// the stream to Tor), and waits for them to end.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.cancel()
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{Accepted: s.accepted.Load(), Connected: s.connected.Load(),
		Refused: s.refused.Load(), Failed: s.failed.Load()}
}

// Username returns the SOCKS username the server sends to Tor for a
// stream to host in ModeSite from a client that sent no credentials:
// what an audit of the upstream port sees for that site.
func (s *Server) Username(host string) string {
	return username(s.cfg.Secret, siteKey(host, nil))
}

// serveConn runs one client: handshake, connection through Tor, splice.
func (s *Server) serveConn(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	req, err := handshake(c, s.cfg.Reserved)
	if err != nil {
		s.refused.Add(1)
		s.cfg.Log.Info("isoproxy: refused a client", "client", c.RemoteAddr().String(), "reason", err.Error())
		lingerClose(c)
		return
	}
	// Tor may take up to ConnectTimeout (onion services: long): the
	// handshake deadline must not cut the reply short.
	c.SetDeadline(time.Time{})
	var key string
	if s.cfg.Mode == ModeConn {
		key = connKey(s.groups.Add(1), req.cred)
	} else {
		key = siteKey(req.host, req.cred)
	}
	auth := &socks.Auth{Username: username(s.cfg.Secret, key), Password: Password}
	target := net.JoinHostPort(req.host, strconv.Itoa(int(req.port)))

	// A client that hangs up while Tor builds a circuit is noticed when
	// the reply is written; reading from it here could swallow data it
	// sent early.
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ConnectTimeout)
	up, err := socks.Dial(ctx, s.cfg.Upstream, target, auth)
	cancel()
	if err != nil {
		s.failed.Add(1)
		code := socks.CodeGeneralFailure
		var re *socks.ReplyError
		if errors.As(err, &re) {
			code = re.Code
		} else if s.ctx.Err() == nil { // not the proxy shutting down
			s.cfg.Log.Warn("isoproxy: tor's SocksPort failed", "upstream", s.cfg.Upstream, "err", errText(err, target))
		}
		c.Write(reply(code))
		return
	}
	defer up.Close()
	if !s.trackUp(up) {
		return
	}
	defer s.untrackUp(up)
	if _, err := c.Write(reply(0)); err != nil {
		return
	}
	s.connected.Add(1)
	join(c, up)
}

// errText is err's text without the destination, which the log must not
// hold.
func errText(err error, target string) string {
	return strings.ReplaceAll(err.Error(), target, "DESTINATION")
}

// join copies both ways until both directions ended, passing half-closes
// on; an error in one direction tears both down. With *net.TCPConn on
// both sides, io.Copy uses splice(2).
func join(client, up net.Conn) {
	errc := make(chan error, 1)
	go func() {
		_, err := io.Copy(up, client)
		if err == nil {
			closeWrite(up)
		}
		errc <- err
	}()
	_, err := io.Copy(client, up)
	if err == nil {
		closeWrite(client)
	} else {
		client.Close()
		up.Close()
	}
	if err := <-errc; err != nil {
		client.Close()
		up.Close()
	}
}

// lingerClose ends a refused client's connection so that the refusal
// arrives: closing a socket with unread input makes the kernel send a
// reset, which may destroy the reply before the client reads it. So it
// half-closes, then drops what the client still sends (at most 64 KiB, for
// at most a second) before closing.
func lingerClose(c net.Conn) {
	closeWrite(c)
	c.SetReadDeadline(time.Now().Add(time.Second))
	io.CopyN(io.Discard, c, 64<<10)
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		c.Close()
	}
}

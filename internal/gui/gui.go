// Package gui is the daemon's local web interface: pages for the services
// (state, enable and disable with live progress, the onion address, the
// clients and their credentials, typed options, logs), the global settings
// and the isolation audit, served on a 127.0.0.1 listener and embedded in
// the binary (templates, CSS, icons, one small script).
//
// Like the CLI, it is a client of the daemon's API: its handlers reach the
// daemon only through internal/client over the daemon's own unix socket, so
// it holds no service logic, and what the GUI shows is what the API says.
//
// Access: a one-time login token, minted through the API (whose socket is
// for root and the members of the daemon's group) for the uid that asked,
// is POSTed to /login (never in a URL: the CLI's gui verb writes it into
// a 0600 file of the caller's, which the browser opens) and exchanged for a
// session cookie (HttpOnly, SameSite=Strict) bound to that uid; the GUI's
// API calls say whom they are made for (client.WithCaller); every state change carries the session's CSRF token;
// the Host header must be the listener's own (against DNS rebinding); the
// Content-Security-Policy allows the page's own origin only and nothing is
// loaded from anywhere else. The core flows are plain forms (POST, redirect,
// GET) and work without JavaScript; with it, server-sent events refresh the
// live parts of a page.
//
// The desktop window (cmd/tails-server-gui) reaches the same pages over the
// API socket instead (ServeWindow, window.go): no listener, no token, no
// cookie; its session is bound to the window process's peer credentials.
//
// QR codes are drawn on the server as SVG with github.com/skip2/go-qrcode,
// the module the CLI's share command already uses.
package gui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"tails-server/internal/client"
)

// Defaults of Config.
const (
	DefaultListen     = "127.0.0.1:0"
	DefaultTokenTTL   = 2 * time.Minute
	DefaultSessionTTL = 12 * time.Hour
)

// Config configures the GUI server.
type Config struct {
	// Client reaches the daemon's API (its own socket).
	Client *client.Client
	Log    *slog.Logger
	// TokenTTL is how long a login token stays valid (default 2 minutes).
	TokenTTL time.Duration
	// SessionTTL ends a session unused for that long (default 12 hours).
	SessionTTL time.Duration
	// LiveInterval is the time between two refreshes of a page's live
	// parts over server-sent events (default 1 s).
	LiveInterval time.Duration
}

// Server is the GUI's HTTP server.
type Server struct {
	cfg  Config
	c    *client.Client
	log  *slog.Logger
	mux  *http.ServeMux
	srv  *http.Server
	base context.Context
	stop context.CancelFunc

	mu       sync.Mutex
	ln       net.Listener
	addr     string // the listener's host:port, the only Host accepted
	tokens   map[[32]byte]pending
	sessions map[[32]byte]*session
	windows  map[windowID]*session
	jobs     map[string]*job
}

// New returns a GUI server; Serve starts it.
func New(cfg Config) *Server {
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.LiveInterval <= 0 {
		cfg.LiveInterval = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Server{cfg: cfg, c: cfg.Client, log: cfg.Log,
		tokens: map[[32]byte]pending{}, sessions: map[[32]byte]*session{}, windows: map[windowID]*session{}, jobs: map[string]*job{}}
	s.base, s.stop = context.WithCancel(context.Background())
	s.routes()
	return s
}

// CheckListen validates a --gui-listen address: an IP of 127.0.0.0/8 and
// a port, so that the GUI is never reachable from another machine.
func CheckListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("gui listen address %q: %v (use 127.0.0.1:PORT, or off)", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return fmt.Errorf("gui listen address %q: the GUI listens on 127.0.0.1 only (use 127.0.0.1:PORT, or off)", addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("gui listen address %q: bad port %q", addr, port)
	}
	return nil
}

// Listen opens the GUI's listener on addr (DefaultListen if empty); from
// then on Login works, and Serve serves.
func (s *Server) Listen(addr string) error {
	if addr == "" {
		addr = DefaultListen
	}
	if err := CheckListen(addr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return fmt.Errorf("gui: listening on %s: %w", addr, err)
	}
	s.mu.Lock()
	s.ln, s.addr = ln, ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return s.base }}
	s.mu.Unlock()
	return nil
}

// Serve serves the GUI on the listener Listen opened, until Shutdown.
// Only requests whose Host is the listener's address are answered.
func (s *Server) Serve() error {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.mu.Unlock()
	if srv == nil {
		return errors.New("gui: Serve before Listen")
	}
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Addr returns the listener's address (host:port), empty before Serve.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Shutdown stops the server: open event streams and running enables are
// cancelled.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop()
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}

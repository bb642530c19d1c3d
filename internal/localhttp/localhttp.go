// Package localhttp runs the HTTP servers of the daemon's built-in
// backends (web, fileshare) on a local address, with the settings they
// share: bounded header size, read and idle times (request bodies
// included), and no log of net/http's own messages, which may name a
// client's address.
package localhttp

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"time"
)

// Server is an HTTP server listening on one address.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// Listen serves h on addr (for example "127.0.0.1:0" for a free port).
func Listen(addr string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, done: make(chan struct{})}
	s.srv = &http.Server{
		Handler:           boundBodies(h),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	if ct, ok := h.(ConnTracker); ok {
		s.srv.ConnContext = ct.ConnContext
		s.srv.ConnState = ct.ConnState
	}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

// ConnTracker is a handler that follows its connections: when the handler
// given to Listen implements it, the server calls ConnContext for each new
// connection (its requests' contexts derive from what it returns) and
// ConnState at each change of state (see http.Server).
type ConnTracker interface {
	ConnContext(ctx context.Context, c net.Conn) context.Context
	ConnState(c net.Conn, st http.ConnState)
}

// BodyTimeout bounds the reading of a request body. A handler that takes
// long bodies (fileshare's uploads) sets its own read deadlines, through
// http.ResponseController, over this one.
var BodyTimeout = 30 * time.Second

// boundBodies gives every request that carries a body a read deadline,
// and closes its connection after the answer. Without it, a client that
// declares a body and stops sending holds its connection for ever:
// net/http reads what a handler left of a body (up to 256 KiB) to reuse
// the connection, with no deadline of its own.
func boundBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(BodyTimeout))
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server: idle connections at once, requests in progress
// after at most 2 seconds.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	<-s.done
	return err
}

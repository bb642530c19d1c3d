package gui

import (
	"context"
	"net/http"
	"time"
)

// A window is the desktop program tails-server-gui: it shows the GUI in a
// WebKitGTK view of its own and fetches every page over the API socket
// (the API's /gui/window/ route hands them to ServeWindow). The kernel
// told the API who the window is (its peer credentials): the window needs
// no login token and no cookie, and no secret travels in a URL, an
// argument or the environment. Each window process (uid and pid) has a
// session of its own, made at its first request; its forms carry that
// session's CSRF token like a browser's do.

// windowID names a window process.
type windowID struct{ uid, pid int }

type windowKey struct{}

// ServeWindow serves a GUI request of the window process pid of user uid,
// as the API's peer credentials say. r.URL.Path is the GUI's path. The
// Host check of ServeHTTP is not made: no DNS name leads to a unix socket.
func (s *Server) ServeWindow(w http.ResponseWriter, r *http.Request, uid, pid int) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	ss := s.windowSession(windowID{uid, pid})
	ctx := context.WithValue(r.Context(), windowKey{}, ss)
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(ctx, startKey{}, time.Now())))
}

// windowSession returns the session of window id, made if it has none
// (or its own expired).
func (s *Server) windowSession(id windowID) *session {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss, ok := s.windows[id]; ok && !s.expired(ss, now) {
		ss.seen = now
		return ss
	}
	for k, ss := range s.windows {
		if s.expired(ss, now) {
			delete(s.windows, k)
		}
	}
	if len(s.windows) >= maxSessions {
		var lru windowID
		var lruSeen time.Time
		for k, ss := range s.windows {
			if lruSeen.IsZero() || ss.seen.Before(lruSeen) {
				lru, lruSeen = k, ss.seen
			}
		}
		delete(s.windows, lru)
	}
	ss := &session{uid: id.uid, csrf: randomToken(), created: now, seen: now}
	s.windows[id] = ss
	s.log.Info("GUI window session opened", "uid", id.uid, "pid", id.pid)
	return ss
}

// windowOf returns the window session a request of ServeWindow carries.
func windowOf(r *http.Request) (*session, bool) {
	ss, ok := r.Context().Value(windowKey{}).(*session)
	return ss, ok
}

// endWindow forgets the window session ss (its next request makes a new one).
func (s *Server) endWindow(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.windows {
		if v == ss {
			delete(s.windows, k)
		}
	}
}

package gui

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"tails-server/internal/apitype"
)

// cookieName is the session cookie's name.
const cookieName = "tails_server_gui"

// Bounds on what an unauthenticated caller can make the server hold.
const (
	maxPendingTokens = 16
	maxSessions      = 32
	sessionMaxAge    = 24 * time.Hour
)

// session is one logged-in browser, for the user (uid) who asked for its
// login through the API socket.
type session struct {
	uid     int
	csrf    string
	created time.Time
	seen    time.Time
	flash   []string
}

// pending is a login token not redeemed yet: for whom, until when.
type pending struct {
	uid int
	exp time.Time
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Login mints a one-time login token for uid (the API caller who asked),
// valid for Config.TokenTTL. The answer's URL is the endpoint to POST the
// token to, as the form field "token"; the URL holds no secret.
func (s *Server) Login(uid int) (apitype.GUILogin, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr == "" {
		return apitype.GUILogin{}, errors.New("the GUI is not listening yet")
	}
	now := time.Now()
	var oldest [32]byte
	var oldestExp time.Time
	for h, p := range s.tokens {
		if now.After(p.exp) {
			delete(s.tokens, h)
			continue
		}
		if oldestExp.IsZero() || p.exp.Before(oldestExp) {
			oldest, oldestExp = h, p.exp
		}
	}
	if len(s.tokens) >= maxPendingTokens {
		delete(s.tokens, oldest)
	}
	tok := randomToken()
	exp := now.Add(s.cfg.TokenTTL)
	s.tokens[sha256.Sum256([]byte(tok))] = pending{uid: uid, exp: exp}
	s.log.Info("GUI login minted", "uid", uid, "expires", exp.UTC().Truncate(time.Second))
	return apitype.GUILogin{URL: "http://" + s.addr + "/login", Token: tok, Expires: exp.UTC().Truncate(time.Second)}, nil
}

// redeem consumes a login token: the uid it was minted for, once, for a
// token not expired.
func (s *Server) redeem(tok string) (int, bool) {
	if tok == "" || len(tok) > 100 {
		return 0, false
	}
	h := sha256.Sum256([]byte(tok))
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.tokens[h]
	delete(s.tokens, h)
	if !ok || !time.Now().Before(p.exp) {
		return 0, false
	}
	return p.uid, true
}

// newSession starts a session for uid and returns its cookie value.
func (s *Server) newSession(uid int) string {
	id := randomToken()
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Drop expired sessions, then the least recently used if still full.
	var lru [32]byte
	var lruSeen time.Time
	for h, ss := range s.sessions {
		if s.expired(ss, now) {
			delete(s.sessions, h)
			continue
		}
		if lruSeen.IsZero() || ss.seen.Before(lruSeen) {
			lru, lruSeen = h, ss.seen
		}
	}
	if len(s.sessions) >= maxSessions {
		delete(s.sessions, lru)
	}
	s.sessions[sha256.Sum256([]byte(id))] = &session{uid: uid, csrf: randomToken(), created: now, seen: now}
	return id
}

func (s *Server) expired(ss *session, now time.Time) bool {
	return now.Sub(ss.seen) > s.cfg.SessionTTL || now.Sub(ss.created) > sessionMaxAge
}

// sessionOf returns the request's session, or nil.
func (s *Server) sessionOf(r *http.Request) *session {
	if ss, ok := windowOf(r); ok {
		return ss
	}
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil
	}
	h := sha256.Sum256([]byte(c.Value))
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[h]
	if !ok {
		return nil
	}
	now := time.Now()
	if s.expired(ss, now) {
		delete(s.sessions, h)
		return nil
	}
	ss.seen = now
	return ss
}

// endSession logs the request's session out.
func (s *Server) endSession(r *http.Request) {
	if ss, ok := windowOf(r); ok {
		s.endWindow(ss)
		return
	}
	if c, err := r.Cookie(cookieName); err == nil {
		s.mu.Lock()
		delete(s.sessions, sha256.Sum256([]byte(c.Value)))
		s.mu.Unlock()
	}
}

// csrfOK compares the form's token with the session's in constant time.
func csrfOK(ss *session, r *http.Request) bool {
	got := r.PostFormValue("csrf")
	if got == "" {
		got = r.Header.Get("X-CSRF-Token")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) == 1
}

func (s *Server) addFlash(ss *session, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(ss.flash) < 8 {
		ss.flash = append(ss.flash, msg)
	}
}

func (s *Server) takeFlash(ss *session) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := ss.flash
	ss.flash = nil
	return f
}

func setSessionCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

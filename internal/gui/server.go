package gui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"tails-server/internal/client"
)

// csp allows the page's own origin only; no inline script, no framing.
const csp = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// maxForm bounds a form body (a text option holds up to 64 KiB).
const maxForm = 256 << 10

// apiTimeout bounds one API call made for a page.
const apiTimeout = 30 * time.Second

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /static/{file}", s.static)
	m.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) { s.loginPage(w, r, http.StatusOK, "") })
	m.HandleFunc("POST /login", s.login)
	m.Handle("POST /logout", s.action(s.logout))
	m.Handle("GET /{$}", s.page(s.servicesPage))
	m.Handle("GET /services/{name}", s.page(s.servicePage))
	m.Handle("POST /services/{name}/enable", s.action(s.enable))
	m.Handle("POST /services/{name}/disable", s.action(s.disable))
	m.Handle("POST /services/{name}/options", s.action(s.setOptions))
	m.Handle("POST /services/{name}/clients", s.action(s.addClient))
	m.Handle("GET /services/{name}/clients/{client}", s.page(s.clientPage))
	m.Handle("GET /services/{name}/clients/{client}/auth_private", s.page(s.authPrivate))
	m.Handle("POST /services/{name}/clients/{client}/remove", s.action(s.removeClient))
	m.HandleFunc("POST /services/{name}/files/{folder}", s.upload)
	m.Handle("POST /services/{name}/files/{folder}/remove", s.action(s.removeFile))
	m.Handle("GET /services/{name}/files/{folder}/file", s.page(s.saveFile))
	m.Handle("POST /services/{name}/messages/{id}/delete", s.action(s.deleteMessage))
	m.Handle("GET /icons/{name}", s.page(s.icon))
	m.Handle("GET /settings", s.page(s.settingsPage))
	m.Handle("POST /services/{name}/export", s.action(s.exportService))
	m.HandleFunc("POST /services/{name}/import", s.importUpload)
	m.Handle("POST /export", s.action(s.exportAll))
	m.HandleFunc("POST /import", s.importUpload)
	m.Handle("POST /imports/{id}/apply", s.action(s.applyImport))
	m.Handle("POST /imports/{id}/cancel", s.action(s.cancelImport))
	m.Handle("POST /settings", s.action(s.setSettings))
	m.Handle("GET /isolation", s.page(s.isolationPage))
	m.Handle("GET /events/{path...}", s.page(s.events))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if s.sessionOf(r) == nil {
			s.loginPage(w, r, http.StatusUnauthorized, "")
			return
		}
		s.errorPage(w, r, nil, http.StatusNotFound, "There is no page at "+r.URL.Path+".", "Go back to the list of services.")
	})
	s.mux = m
}

// ServeHTTP refuses a foreign Host header, sets the security headers and
// routes the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if addr := s.Addr(); addr == "" || r.Host != addr {
		http.Error(w, "request refused: this interface answers only to its own address (Host header)", http.StatusForbidden)
		return
	}
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), startKey{}, time.Now())))
}

type ctxKey struct{}

// startKey holds when the server began answering a request, for the
// Server-Timing header (API calls and drawing together).
type startKey struct{}

func sessionFrom(r *http.Request) *session {
	ss, _ := r.Context().Value(ctxKey{}).(*session)
	return ss
}

// page wraps a read-only handler: without a session it answers the login
// page (401), never data.
func (s *Server) page(fn http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss := s.sessionOf(r)
		if ss == nil {
			s.loginPage(w, r, http.StatusUnauthorized, "")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		fn(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, ss)))
	})
}

// action wraps a state-changing handler: it needs a session, the
// session's CSRF token, and, when the browser sends one, our own Origin.
func (s *Server) action(fn http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss := s.sessionOf(r)
		if ss == nil {
			s.loginPage(w, r, http.StatusForbidden, "You are not logged in, so nothing was changed.")
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ss))
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			s.errorPage(w, r, ss, http.StatusBadRequest, "The form could not be read: "+err.Error()+".", "Go back, reload the page and try again.")
			return
		}
		if o := r.Header.Get("Origin"); (o != "" && o != "http://"+s.Addr()) || !csrfOK(ss, r) {
			s.errorPage(w, r, ss, http.StatusForbidden, "This form did not come from this page (its security token is missing or wrong), so nothing was changed.",
				"Go back, reload the page and submit the form again.")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		fn(w, r)
	})
}

// apiCtx is the context of the API calls made for one request: they say
// whom they are made for (the session's uid).
func apiCtx(r *http.Request) (context.Context, context.CancelFunc) {
	ctx := r.Context()
	if ss := sessionFrom(r); ss != nil {
		ctx = client.WithCaller(ctx, ss.uid)
	}
	return context.WithTimeout(ctx, apiTimeout)
}

// login exchanges a one-time token, POSTed as the form field "token" (by
// the login file the CLI's gui verb writes, whose origin is "null"), for a
// session of the uid the token was minted for. The answer is a page that
// goes on to "/" by itself: a redirect would carry on the file's
// cross-site navigation, on which the browser holds back the SameSite
// cookie just set.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != "http://"+s.Addr() {
		s.loginPage(w, r, http.StatusForbidden, "This login did not come from a login file of this computer, so it was refused.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	uid, ok := s.redeem(r.PostFormValue("token"))
	if !ok {
		s.loginPage(w, r, http.StatusForbidden, "This login was used already or has expired. Each one works once, for a short time.")
		return
	}
	setSessionCookie(w, s.newSession(uid))
	s.log.Info(fmt.Sprintf("GUI session opened for uid %d", uid), "uid", uid)
	s.render(w, r, http.StatusOK, &view{tmpl: "loggedin", title: "Logged in", enter: true})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.endSession(r)
	clearSessionCookie(w)
	s.loginPage(w, r, http.StatusOK, "You are logged out.")
}

// redirect answers a form with 303 to the page to show next, with
// messages shown there once.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, to string, flash ...string) {
	ss := sessionFrom(r)
	for _, f := range flash {
		if f != "" {
			s.addFlash(ss, f)
		}
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// render executes a page into a buffer, so that a template error gives a
// clean error page, and writes it with the time it took as Server-Timing.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, v *view) {
	start, ok := r.Context().Value(startKey{}).(time.Time)
	if !ok {
		start = time.Now()
	}
	var buf bytes.Buffer
	if err := s.execPage(&buf, r, v); err != nil {
		s.log.Error("gui: rendering", "page", v.tmpl, "err", err)
		http.Error(w, "the page could not be drawn: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Server-Timing", fmt.Sprintf("page;dur=%.2f", float64(time.Since(start).Microseconds())/1000))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// apiError turns an API error into an error page saying what to do next.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg, hint := describe(err)
	s.errorPage(w, r, sessionFrom(r), status, msg, hint)
}

// describe returns the status, message and next step for an API error.
func describe(err error) (int, string, string) {
	var ce *client.Error
	var nr *client.NotRunningError
	switch {
	case errors.As(err, &ce):
		hint := ce.Hint
		if hint == "" {
			hint = "Check the message above, then try again."
		}
		status := ce.Status
		if status < 400 {
			status = http.StatusBadGateway
		}
		return status, capital(ce.Msg) + ".", hintForGUI(hint)
	case errors.As(err, &nr):
		return http.StatusBadGateway, "The daemon does not answer: " + nr.Reason + ".", "Restart tails-server's daemon, then reload this page."
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "The daemon took too long to answer.", "Reload this page in a moment."
	}
	return http.StatusInternalServerError, capital(err.Error()) + ".", "Reload this page; if it happens again, look at the daemon's log."
}

func capital(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

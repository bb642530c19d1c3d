package gui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"tails-server/internal/apitype"
)

// windowDo sends a request of window process (uid, pid) to ServeWindow.
func windowDo(s *Server, uid, pid int, method, path string, form url.Values) *httptest.ResponseRecorder {
	var r *http.Request
	if form != nil {
		r = httptest.NewRequest(method, "http://"+apitype.Host+path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, "http://"+apitype.Host+path, nil)
	}
	w := httptest.NewRecorder()
	s.ServeWindow(w, r, uid, pid)
	return w
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// A window needs no login and gets no cookie; its forms need its own
// session's CSRF token, which no other window process has, and its
// session is not reachable over the GUI's TCP listener.
func TestWindowSessions(t *testing.T) {
	f := &fakeAPI{daemon: apitype.Daemon{Network: "testnet", Tor: apitype.Tor{State: "ready", Bootstrap: 100}},
		services: map[string]apitype.Service{"web": {Name: "web", Title: "Web server", Installed: true, Enabled: true, State: apitype.StateReachable}}}
	s, _ := serveFake(t, f)

	w := windowDo(s, 1000, 10, http.MethodGet, "/services/web", nil)
	if w.Code != http.StatusOK || w.Header().Get("Set-Cookie") != "" || w.Header().Get("Content-Security-Policy") != csp {
		t.Fatalf("window GET: %d, cookie %q, CSP %q\n%s", w.Code, w.Header().Get("Set-Cookie"), w.Header().Get("Content-Security-Policy"), w.Body)
	}
	m := csrfField.FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatalf("the window's page has no form with a CSRF token:\n%s", w.Body)
	}
	tok := m[1]
	if again := csrfField.FindStringSubmatch(windowDo(s, 1000, 10, http.MethodGet, "/services/web", nil).Body.String()); again == nil || again[1] != tok {
		t.Fatal("a window's second request has another session")
	}

	for _, c := range []struct {
		what     string
		uid, pid int
		form     url.Values
	}{
		{"no token", 1000, 10, url.Values{}},
		{"another window process's token", 1000, 11, url.Values{"csrf": {tok}}},
		{"another user's window with the same pid", 1001, 10, url.Values{"csrf": {tok}}},
	} {
		if w := windowDo(s, c.uid, c.pid, http.MethodPost, "/logout", c.form); w.Code != http.StatusForbidden {
			t.Errorf("log out with %s: %d, want 403", c.what, w.Code)
		}
	}
	if w := windowDo(s, 1000, 10, http.MethodPost, "/logout", url.Values{"csrf": {tok}}); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "You are logged out.") {
		t.Fatalf("log out from the window with its token: %d\n%s", w.Code, w.Body)
	}
	// Its next request starts a new session, with a new token.
	if again := csrfField.FindStringSubmatch(windowDo(s, 1000, 10, http.MethodGet, "/services/web", nil).Body.String()); again == nil || again[1] == tok {
		t.Fatal("after logging out, the window kept its session")
	}

	// The listener knows nothing of window sessions.
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.Addr()+"/services/web", nil)
	if resp, _ := fetch(t, &http.Client{CheckRedirect: noRedirect}, req); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the listener without a cookie: %s", resp.Status)
	}
}

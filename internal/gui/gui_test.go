package gui

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
)

// serve starts a GUI whose daemon is absent: enough for access control,
// which answers before any API call.
func serve(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Client = client.New(filepath.Join(t.TempDir(), "none.sock"))
	s := New(cfg)
	if err := s.Listen(""); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func fetch(t *testing.T, hc *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func TestCheckListen(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:0": true, "127.0.0.1:8080": true, "127.1.2.3:1": true,
		"0.0.0.0:80": false, ":8080": false, "localhost:80": false, "[::1]:80": false,
		"192.168.1.2:80": false, "127.0.0.1": false, "127.0.0.1:x": false,
	} {
		if err := CheckListen(addr); (err == nil) != ok {
			t.Errorf("CheckListen(%q) = %v", addr, err)
		}
	}
}

// loginReq is the request a login file's form sends: the token POSTed
// from a file:// page (Origin "null").
func loginReq(l apitype.GUILogin, token string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, l.URL, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "null")
	return req
}

// logIn mints a login for uid and redeems it with hc.
func logIn(t *testing.T, s *Server, hc *http.Client, uid int) {
	t.Helper()
	l, err := s.Login(uid)
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := fetch(t, hc, loginReq(l, l.Token)); resp.StatusCode != http.StatusOK || !strings.Contains(body, `http-equiv="refresh" content="0; url=/"`) {
		t.Fatalf("login: %s\n%s", resp.Status, body)
	}
}

func TestLoginTokens(t *testing.T) {
	var logs bytes.Buffer
	s := serve(t, Config{TokenTTL: 300 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: noRedirect}
	l, err := s.Login(1000)
	if err != nil {
		t.Fatal(err)
	}
	// The URL holds no secret: the token goes in a POST body.
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/login$`).MatchString(l.URL) || !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(l.Token) {
		t.Fatalf("login %q, token of %d characters", l.URL, len(l.Token))
	}
	// The token in a URL, as the old login links had it, logs no one in.
	req, _ := http.NewRequest(http.MethodGet, l.URL+"?token="+l.Token, nil)
	if resp, _ := fetch(t, hc, req); resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 0 {
		t.Fatalf("GET with the token in the URL: %s %v", resp.Status, resp.Cookies())
	}
	// From another site's page, with the right token: refused.
	req = loginReq(l, l.Token)
	req.Header.Set("Origin", "http://evil.example")
	if resp, _ := fetch(t, hc, req); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Fatalf("foreign Origin: %s %v", resp.Status, resp.Cookies())
	}
	l, _ = s.Login(1000)
	if resp, _ := fetch(t, hc, loginReq(l, l.Token)); resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 1 {
		t.Fatalf("first use: %s %v", resp.Status, resp.Cookies())
	}
	s.mu.Lock()
	for _, ss := range s.sessions {
		if ss.uid != 1000 {
			t.Errorf("session of uid %d, minted for 1000", ss.uid)
		}
	}
	s.mu.Unlock()
	if !strings.Contains(logs.String(), "GUI session opened for uid 1000") || strings.Contains(logs.String(), l.Token) {
		t.Errorf("log:\n%s", logs.String())
	}
	if resp, body := fetch(t, &http.Client{CheckRedirect: noRedirect}, loginReq(l, l.Token)); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "used already") {
		t.Fatalf("second use: %s", resp.Status)
	}
	// An expired token is refused too.
	l, _ = s.Login(1000)
	time.Sleep(400 * time.Millisecond)
	if resp, _ := fetch(t, &http.Client{CheckRedirect: noRedirect}, loginReq(l, l.Token)); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Fatalf("expired token: %s", resp.Status)
	}
	// Pending tokens are bounded: the oldest go first.
	var last apitype.GUILogin
	for range maxPendingTokens + 4 {
		last, _ = s.Login(0)
	}
	s.mu.Lock()
	n := len(s.tokens)
	s.mu.Unlock()
	if n != maxPendingTokens {
		t.Fatalf("%d pending tokens, want %d", n, maxPendingTokens)
	}
	if resp, _ := fetch(t, &http.Client{CheckRedirect: noRedirect}, loginReq(last, last.Token)); resp.StatusCode != http.StatusOK {
		t.Fatalf("newest token: %s", resp.Status)
	}
}

func TestAccessControl(t *testing.T) {
	s := serve(t, Config{})
	base := "http://" + s.Addr()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: noRedirect}
	logIn(t, s, hc, 0)
	s.mu.Lock()
	var csrf string
	for _, ss := range s.sessions {
		csrf = ss.csrf
	}
	s.mu.Unlock()

	// Host other than the listener's: refused, even with a session.
	req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
	req.Host = "attacker.example"
	if resp, _ := fetch(t, hc, req); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign Host: %s", resp.Status)
	}
	// No session: the login page, for reads and writes.
	req, _ = http.NewRequest(http.MethodGet, base+"/services/web", nil)
	if resp, body := fetch(t, http.DefaultClient, req); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "tails-server gui") {
		t.Fatalf("no session: %s", resp.Status)
	}
	// Missing, forged, and foreign-origin posts: 403 before the daemon is
	// asked anything (here there is none: it would be a 502).
	post := func(form url.Values, origin string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/services/web/enable", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, _ := fetch(t, hc, req)
		return resp.StatusCode
	}
	for _, c := range []struct {
		form   url.Values
		origin string
		want   int
	}{
		{url.Values{}, "", http.StatusForbidden},
		{url.Values{"csrf": {forged(csrf)}}, "", http.StatusForbidden},
		{url.Values{"csrf": {csrf}}, "null", http.StatusForbidden},
		{url.Values{"csrf": {csrf}}, "http://attacker.example", http.StatusForbidden},
		{url.Values{"csrf": {csrf}}, base, http.StatusBadGateway},
		{url.Values{"csrf": {csrf}}, "", http.StatusBadGateway},
	} {
		if got := post(c.form, c.origin); got != c.want {
			t.Errorf("post %v origin %q: %d, want %d", c.form, c.origin, got, c.want)
		}
	}
	// Security headers on every answer.
	req, _ = http.NewRequest(http.MethodGet, base+"/static/app.css", nil)
	resp, _ := fetch(t, http.DefaultClient, req)
	if resp.Header.Get("Content-Security-Policy") != csp || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("headers %v", resp.Header)
	}
}

func TestQRSVG(t *testing.T) {
	svg := string(qrSVG("http://example.onion/", "QR <code>"))
	if !strings.HasPrefix(svg, `<svg class="qr" role="img" aria-label="QR &lt;code&gt;"`) || !strings.Contains(svg, `<path fill="#000" d="M`) {
		t.Fatalf("svg %q", svg[:min(len(svg), 200)])
	}
}

// forged is tok with its first character changed (a fixed "x" would
// leave the 1 token in 64 that starts with x as it is).
func forged(tok string) string {
	if tok[0] == 'x' {
		return "y" + tok[1:]
	}
	return "x" + tok[1:]
}

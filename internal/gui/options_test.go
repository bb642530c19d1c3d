package gui

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"tails-server/internal/api"
	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/client"
	"tails-server/internal/services"
	"tails-server/internal/store"
	"tails-server/internal/tor"
	catalogfs "tails-server/services"
)

type noTor struct{}

func (noTor) Conn() *tor.Conn   { return nil }
func (noTor) SocksAddr() string { return "" }

// apiDaemon is a daemon of the built-in catalog without tor: enough for
// the options of the service pages.
type apiDaemon struct{ m *services.Manager }

func (d apiDaemon) Status() apitype.Daemon      { return apitype.Daemon{Network: "testnet"} }
func (d apiDaemon) Services() *services.Manager { return d.m }
func (d apiDaemon) Settings(context.Context) (apitype.Settings, error) {
	return apitype.Settings{}, nil
}
func (d apiDaemon) SetSetting(context.Context, string, string) (apitype.Settings, error) {
	return apitype.Settings{}, nil
}

// guiSession is a logged-in GUI over the real API and service manager.
type guiSession struct {
	s    *Server
	hc   *http.Client
	base string
	csrf string
}

func serveWithAPI(t *testing.T) *guiSession {
	t.Helper()
	return serveWithAPIIn(t, t.TempDir())
}

// serveWithAPIIn is serveWithAPI over the state in dir.
func serveWithAPIIn(t *testing.T, dir string) *guiSession {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "state"), filepath.Join(dir, "volatile"))
	if err != nil {
		t.Fatal(err)
	}
	cat, errs := catalog.Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m, err := services.New(st, services.OneTor{T: noTor{}}, cat, services.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(apiDaemon{m}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	s := New(Config{Client: client.New(sock), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.Listen(""); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	jar, _ := cookiejar.New(nil)
	g := &guiSession{s: s, hc: &http.Client{Jar: jar, CheckRedirect: noRedirect}, base: "http://" + s.Addr()}
	logIn(t, s, g.hc, 0)
	s.mu.Lock()
	for _, ss := range s.sessions {
		g.csrf = ss.csrf
	}
	s.mu.Unlock()
	return g
}

func (g *guiSession) get(t *testing.T, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.base+path, nil)
	resp, body := fetch(t, g.hc, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	return html.UnescapeString(body)
}

func (g *guiSession) post(t *testing.T, path string, form url.Values) (int, string) {
	t.Helper()
	form.Set("csrf", g.csrf)
	req, _ := http.NewRequest(http.MethodPost, g.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := fetch(t, g.hc, req)
	return resp.StatusCode, html.UnescapeString(body)
}

// fieldHelp returns the help block under an option's field.
func fieldHelp(t *testing.T, page, option string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<div id="opt-` + regexp.QuoteMeta(option) + `-d" class="field-help">(.*?)</div>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no field help for %s in the page", option)
	}
	return m[1]
}

// TestGUIRefusalSaysTheRule: a value the option's pattern refuses is
// shown under the field with the rule in words, not a regexp, and not the
// untrue "Use one line of text, without control characters".
func TestGUIRefusalSaysTheRule(t *testing.T) {
	g := serveWithAPI(t)
	tests := []struct{ service, option, value, want string }{
		{"xmpp", "room", "Bad Room", `Option "room": value "Bad Room" is not valid: use 1 to 64 lower-case letters (a-z), digits, '.', '_' or '-'`},
		{"fileshare", "shared-dir", "../etc", `Option "shared-dir": value "../etc" is not valid: use a folder inside the service's data folder`},
		{"irc", "channels", "general news", `Option "channels": value "general news" is not valid: use 1 to 20 channel names separated by commas`},
		{"sftp", "authorized-keys", "not a key", `Option "authorized-keys": line 1 is not valid: paste one SSH public key a line`},
	}
	for _, tt := range tests {
		code, page := g.post(t, "/services/"+tt.service+"/options", url.Values{"opt-" + tt.option: {tt.value}})
		if code != http.StatusUnprocessableEntity {
			t.Fatalf("%s %s=%q: %d, want 422", tt.service, tt.option, tt.value, code)
		}
		help := fieldHelp(t, page, tt.option)
		if !strings.Contains(help, tt.want) {
			t.Errorf("%s %s=%q: field help\n%s\nwant %s", tt.service, tt.option, tt.value, help, tt.want)
		}
		if strings.Contains(page, "control characters") {
			t.Errorf("%s %s=%q: the page speaks of control characters, which the value has none of", tt.service, tt.option, tt.value)
		}
		if strings.ContainsAny(help, "[]{}\\^$") {
			t.Errorf("%s %s=%q: the field help holds a regexp:\n%s", tt.service, tt.option, tt.value, help)
		}
	}
}

// TestGUINoOneCanLogIn: the sftp page says that no one can log in yet
// next to the authorized keys, where the choice is, once, and not in a
// banner; with a key set, it says nothing of it.
func TestGUINoOneCanLogIn(t *testing.T) {
	g := serveWithAPI(t)
	page := g.get(t, "/services/sftp")
	want := "No one can log in yet: set authorized-keys"
	if help := fieldHelp(t, page, "authorized-keys"); !strings.Contains(help, want) {
		t.Errorf("authorized-keys help:\n%s\nwant %q", help, want)
	}
	if n := strings.Count(page, want); n != 1 {
		t.Errorf("the page says %q %d times, want once", want, n)
	}
	if regexp.MustCompile(`class="banner warn"[^>]*>No one can`).MatchString(page) {
		t.Error("the warning is a banner, far from the option")
	}
	code, _ := g.post(t, "/services/sftp/options", url.Values{"opt-authorized-keys": {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtest alice"}})
	if code != http.StatusSeeOther {
		t.Fatalf("setting a key: %d", code)
	}
	if page := g.get(t, "/services/sftp"); strings.Contains(page, "No one can log in") {
		t.Error("with a key set, the page still says no one can log in")
	}
}

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"tails-server/internal/client"
	"tails-server/internal/testenv"
)

// artifactsDir is where the browser tests leave their screenshots (git
// ignores it).
const artifactsDir = "artifacts"

// guiDaemon is a daemon under test with its GUI.
type guiDaemon struct {
	*daemon
	base string // http://127.0.0.1:PORT
}

// startGUIDaemon starts a daemon on the private network (its GUI on a
// port of its choice) and returns it with the GUI's base URL.
func startGUIDaemon(t *testing.T, extra ...string) *guiDaemon {
	t.Helper()
	tmp := backendTempDir(t)
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"), extra...)
	g := &guiDaemon{daemon: d}
	g.loginFile(t)
	return g
}

// loginFile asks the daemon, through the CLI, for a one-time login, and
// returns the login file the CLI wrote (g.base is set from the GUI's
// address it printed).
func (g *guiDaemon) loginFile(t testing.TB) string {
	t.Helper()
	out, errOut, code := cli(g.t, []string{"TAILS_SERVER_SOCKET=" + g.socket}, "gui", "--no-open", "-o", "json")
	if code != 0 {
		t.Fatalf("tails-server gui: exit %d: %s", code, errOut)
	}
	var l struct{ File, URL string }
	if err := json.Unmarshal([]byte(out), &l); err != nil || l.File == "" || !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/$`).MatchString(l.URL) {
		t.Fatalf("tails-server gui printed no login file and GUI address (%v):\n%s", err, out)
	}
	g.base = strings.TrimSuffix(l.URL, "/")
	return l.File
}

var (
	loginAction = regexp.MustCompile(`<form id="login" method="post" action="(http://127\.0\.0\.1:\d+/login)">`)
	loginToken  = regexp.MustCompile(`name="token" value="([A-Za-z0-9_-]{43})"`)
)

// readLoginFile returns the form action and the token of a login file.
func readLoginFile(t testing.TB, file string) (action, token string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	a, k := loginAction.FindSubmatch(b), loginToken.FindSubmatch(b)
	if a == nil || k == nil {
		t.Fatalf("login file %s has no form with a token:\n%s", file, b)
	}
	return string(a[1]), string(k[1])
}

// postLogin sends a login file's form as a browser does (Origin "null",
// the origin of a file:// page).
func postLogin(hc *http.Client, action, token string) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodPost, action, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "null")
	return hc.Do(req)
}

// session logs in over HTTP with a fresh login file.
func (g *guiDaemon) session(t testing.TB) *httpSession {
	t.Helper()
	file := g.loginFile(t)
	action, token := readLoginFile(t, file)
	return newHTTPSession(t, g.base, action, token)
}

// guiCatalog writes a catalog dir with one extra service, "guidemo" (the
// built-in web server), whose options cover every field type.
func guiCatalog(t testing.TB) string {
	dir := filepath.Join(t.TempDir(), "catalog.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	desc := `name: guidemo
title: GUI demo site
description: A static site with one option of every type.
backend:
  builtin: web
onion_ports:
  - virtual: 80
options:
  - name: visitors
    title: Visitors at most
    description: How many visitors at once (1 to 100).
    type: int
    default: 10
    min: 1
    max: 100
  - name: theme
    title: Theme
    type: enum
    choices: [light, dark]
    default: light
  - name: motd
    title: Message of the day
    type: text
    default: Hello
  - name: admin-password
    title: Admin password
    type: secret
    generate:
      length: 16
health:
  http:
    path: /
connect:
  uri: "http://{{.address}}/"
`
	if err := os.WriteFile(filepath.Join(dir, "guidemo.yaml"), []byte(desc), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newBrowser starts Debian's chromium, headless, with a fresh profile, and
// returns a context for its first tab. Downloads go to dl. extra adds
// options (a proxy).
func newBrowser(t *testing.T, dl string, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := testenv.RequireProgram(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 900),
		chromedp.Flag("disable-gpu", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	opts = append(opts, extra...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl,
		})
		return err
	})); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// step runs browser actions with a time limit, failing the test with what
// was being done.
func step(t *testing.T, ctx context.Context, limit time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		shot(t, ctx, "failed-"+what)
		t.Fatalf("%s: %v", what, err)
	}
}

// text returns the text of the first element sel matches.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// shot saves a full-page screenshot as artifacts/TEST/NAME.png.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	dir := filepath.Join(artifactsDir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	safe := regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(name, "-")
	if err := os.WriteFile(filepath.Join(dir, safe+".png"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// scriptsOff turns JavaScript off in the tab.
func scriptsOff(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: on})
		return err
	})
}

// onionClientWithFile starts an independent client tor whose
// ClientOnionAuthDir holds exactly the given credential file.
func onionClientWithFile(t *testing.T, name, file string) *onionClient {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	authDir := filepath.Join(t.TempDir(), "auth")
	if err := os.MkdirAll(authDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(authDir, filepath.Base(file)), b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tr, err := tnet.StartTor(ctx, fmt.Sprintf("%s-%d", name, time.Now().UnixNano()), []string{"ClientOnionAuthDir " + authDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Stop() })
	return &onionClient{tor: tr, authDir: authDir}
}

// httpSession is a logged-in plain HTTP client of the GUI.
type httpSession struct {
	hc   *http.Client
	base string
}

// noRedirect keeps 303s visible to the tests.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func newHTTPSession(t testing.TB, base, action, token string) *httpSession {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	s := &httpSession{hc: &http.Client{Jar: jar, CheckRedirect: noRedirect, Timeout: 30 * time.Second}, base: base}
	resp, err := postLogin(s.hc, action, token)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 1 {
		t.Fatalf("login: %s %v", resp.Status, resp.Cookies())
	}
	return s
}

func (s *httpSession) get(t testing.TB, path string) (*http.Response, string) {
	t.Helper()
	resp, err := s.hc.Get(s.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (s *httpSession) post(t testing.TB, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := s.hc.PostForm(s.base+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([A-Za-z0-9_-]+)"`)

// csrf reads the session's CSRF token from a page.
func (s *httpSession) csrf(t testing.TB) string {
	t.Helper()
	_, page := s.get(t, "/settings")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the settings page")
	}
	return m[1]
}

// apiClients lists a service's client names through the API.
func apiClients(t *testing.T, socket, svc string) []string {
	t.Helper()
	cl, err := client.New(socket).Clients(context.Background(), svc)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cl {
		names = append(names, c.Name)
	}
	return names
}

// tabTo presses Tab from the top of the page until the element with the
// given id has the focus: proof that the keyboard alone reaches it.
func tabTo(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	var seen []string
	for range 40 {
		step(t, ctx, 10*time.Second, "press Tab", chromedp.KeyEvent("\t"))
		got, err := chromedp.Run(timeout(ctx, 10*time.Second), chromedp.Evaluate[string](`document.activeElement.id || document.activeElement.tagName`))
		if err != nil {
			t.Fatal(err)
		}
		if got == id {
			return
		}
		seen = append(seen, got)
	}
	t.Fatalf("Tab never reached #%s; focus went through %v", id, seen)
}

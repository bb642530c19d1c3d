package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tails-server/internal/client"
)

// TestGUIBrowser drives the GUI in Debian's chromium against the real
// daemon on the private network: log in with the one-time URL, enable web
// and see its address appear and its state turn to Running live (over
// server-sent events), add a client
// and download its credential file, fetch the page through the onion with
// an independent client tor holding that file, see an invalid option value
// refused inline, do the core flows again with JavaScript off, disable, and
// look at the page 360 px wide.
func TestGUIBrowser(t *testing.T) {
	requireNet(t)
	g := startGUIDaemon(t, "--catalog", guiCatalog(t))
	dl := t.TempDir()
	ctx := newBrowser(t, dl)

	step(t, ctx, 30*time.Second, "log in", chromedp.Navigate("file://"+g.loginFile(t)), chromedp.WaitVisible(chromedp.CSS("ul.services")))
	shot(t, ctx, "01-services")
	list := text(t, ctx, "ul.services")
	for _, want := range []string{"Web server", "GUI demo site", "Disabled"} {
		if !strings.Contains(list, want) {
			t.Fatalf("services page lacks %q:\n%s", want, list)
		}
	}
	// Both are built-in, installed although never enabled.
	if strings.Contains(list, "Not installed") {
		t.Fatalf("services page says a built-in service is not installed:\n%s", list)
	}

	step(t, ctx, 30*time.Second, "open web", chromedp.Click(chromedp.CSS(`a[href="/services/web"]`)), chromedp.WaitVisible(chromedp.ID("enable")))
	shot(t, ctx, "02-web-disabled")

	// Enable, with the keyboard alone; the page shows the progress and the
	// address, then turns to Running by itself (server-sent events: the
	// test never reloads it).
	tabTo(t, ctx, "enable")
	step(t, ctx, 30*time.Second, "enable web", chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.ID("live-status")))
	if err := chromedp.Do(timeout(ctx, 15*time.Second), chromedp.WaitVisible(chromedp.ID("enable-progress"))); err == nil {
		shot(t, ctx, "03-enabling")
	}
	step(t, ctx, 150*time.Second, "address appears", chromedp.WaitVisible(chromedp.ID("onion-uri")))
	uri, err := chromedp.Run(timeout(ctx, 10*time.Second), chromedp.Value(chromedp.ID("onion-uri")))
	if err != nil {
		t.Fatal(err)
	}
	addr := g.service("web").OnionAddress
	if !regexp.MustCompile(`^http://[a-z2-7]{56}\.onion/$`).MatchString(uri) || uri != "http://"+addr+"/" {
		t.Fatalf("the page shows the address %q; the API says %s", uri, addr)
	}
	waitFor(t, 150*time.Second, "the page says Running", func() error {
		if s := text(t, ctx, "#live-status .badge"); s != "Running" {
			return fmt.Errorf("state shown: %q", s)
		}
		return nil
	})
	shot(t, ctx, "04-web-running")

	// With client authorization on and no client yet, a banner says so
	// and points at the form on the page, not at a CLI command.
	step(t, ctx, 30*time.Second, "reload web", chromedp.Navigate(g.base+"/services/web"), chromedp.WaitVisible(chromedp.ID("client-name")))
	if banner := text(t, ctx, "main"); !strings.Contains(banner, "No client may connect yet: add one under “People who may connect”.") ||
		strings.Contains(banner, "tails-server client add") {
		t.Fatalf("the no-client banner is missing or names a CLI command:\n%s", banner)
	}
	step(t, ctx, 30*time.Second, "follow the banner's link", chromedp.Click(chromedp.CSS(`.banner a[href="#client-name"]`)))
	hash, err := chromedp.Run(timeout(ctx, 10*time.Second), chromedp.Evaluate[string](`location.hash`))
	if err != nil || hash != "#client-name" {
		t.Fatalf("the banner's link leads to %q (%v), want the add-client field", hash, err)
	}

	// Add a client and download its credential file.
	step(t, ctx, 30*time.Second, "add alice",
		chromedp.SendKeys(chromedp.ID("client-name"), "alice"),
		chromedp.Click(chromedp.ID("add-client")),
		chromedp.WaitVisible(chromedp.ID("download")))
	shot(t, ctx, "05-credential")
	shown, err := chromedp.Run(timeout(ctx, 10*time.Second), chromedp.Value(chromedp.ID("credential")))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(g.mustCLI("client", "show", "web", "alice", "--format", "auth-private"))
	if strings.TrimSpace(shown) != want || !authPrivateLine.MatchString(want) {
		t.Fatalf("credential shown %q, `client show` says %q", shown, want)
	}
	step(t, ctx, 30*time.Second, "download", chromedp.Click(chromedp.ID("download")))
	file := filepath.Join(dl, "web-alice.auth_private")
	waitFor(t, 30*time.Second, "downloaded credential file", func() error {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if string(b) != want+"\n" {
			return fmt.Errorf("file holds %q", b)
		}
		return nil
	})

	alice := onionClientWithFile(t, "gui-alice", file)
	waitFor(t, 120*time.Second, "fetch with the downloaded file", func() error {
		page, err := alice.curl(uri)
		if err != nil {
			return err
		}
		if !strings.Contains(page, welcome) {
			return fmt.Errorf("unexpected page %q", page)
		}
		return nil
	})

	// An invalid value is refused inline, and nothing changes.
	step(t, ctx, 30*time.Second, "invalid option",
		chromedp.Navigate(g.base+"/services/guidemo"),
		chromedp.WaitVisible(chromedp.ID("opt-visitors")),
		chromedp.SetValue(chromedp.ID("opt-visitors"), "1000"),
		chromedp.Click(chromedp.ID("save-options")),
		chromedp.WaitVisible(chromedp.CSS(".field.invalid .field-error")))
	shot(t, ctx, "06-invalid-option")
	if msg := text(t, ctx, ".field.invalid .field-error"); !strings.Contains(msg, "above the maximum 100") {
		t.Fatalf("inline error %q", msg)
	}
	if inv, err := chromedp.Run(timeout(ctx, 10*time.Second), chromedp.AttributeValue(chromedp.ID("opt-visitors"), "aria-invalid")); err != nil || inv.Value != "true" {
		t.Fatalf("the invalid field is not marked aria-invalid: %+v %v", inv, err)
	}
	if o, err := client.New(g.socket).GetOption(context.Background(), "guidemo", "visitors", false); err != nil || o.Value != "10" {
		t.Fatalf("visitors after the refused change: %+v %v", o, err)
	}

	t.Run("without JavaScript", func(t *testing.T) {
		tab := ctx
		step(t, tab, 30*time.Second, "scripts off", scriptsOff(true), chromedp.Navigate(g.base+"/services/guidemo"), chromedp.WaitVisible(chromedp.ID("enable")))
		defer chromedp.Do(timeout(ctx, 10*time.Second), scriptsOff(false))
		// Enable: the page reloads itself (meta refresh) until the
		// address is there.
		step(t, tab, 150*time.Second, "enable without JS", chromedp.Click(chromedp.ID("enable")), chromedp.WaitVisible(chromedp.ID("onion-uri")))
		if s := g.service("guidemo"); !s.Enabled || s.OnionAddress == "" {
			t.Fatalf("guidemo after enable: %+v", s)
		}
		step(t, tab, 30*time.Second, "add bob without JS",
			chromedp.SendKeys(chromedp.ID("client-name"), "bob"),
			chromedp.Click(chromedp.ID("add-client")),
			chromedp.WaitVisible(chromedp.ID("download")))
		if names := apiClients(t, g.socket, "guidemo"); strings.Join(names, ",") != "bob" {
			t.Fatalf("clients after adding bob: %v", names)
		}
		step(t, tab, 30*time.Second, "change an option without JS",
			chromedp.Navigate(g.base+"/services/guidemo"),
			chromedp.WaitVisible(chromedp.ID("opt-visitors")),
			chromedp.SetValue(chromedp.ID("opt-visitors"), "42"),
			chromedp.SetValue(chromedp.ID("opt-theme"), "dark"),
			chromedp.Click(chromedp.ID("save-options")),
			chromedp.WaitVisible(chromedp.CSS(".banner.info")))
		shot(t, tab, "07-saved-without-js")
		if msg := text(t, tab, ".banner.info"); !strings.Contains(msg, "Saved: Visitors at most, Theme") {
			t.Fatalf("after saving: %q", msg)
		}
		for opt, want := range map[string]string{"visitors": "42", "theme": "dark"} {
			if o, err := client.New(g.socket).GetOption(context.Background(), "guidemo", opt, false); err != nil || o.Value != want {
				t.Fatalf("%s after saving: %+v %v", opt, o, err)
			}
		}
	})

	// Settings: network mode, tor's bootstrap, the guard trade-off.
	step(t, ctx, 30*time.Second, "settings page", chromedp.Navigate(g.base+"/settings"), chromedp.WaitVisible(chromedp.ID("bootstrap")), chromedp.WaitVisible(chromedp.ID("persist-tor-state")))
	if tor := text(t, ctx, "#live-tor"); !strings.Contains(tor, "testnet") || !strings.Contains(tor, "ready") || !strings.Contains(tor, "100%") {
		t.Fatalf("settings, tor:\n%s", tor)
	}
	if guards := text(t, ctx, "#pts-d"); !strings.Contains(guards, "entry guards") {
		t.Fatalf("settings, the guard trade-off:\n%s", guards)
	}
	shot(t, ctx, "07b-settings")

	// Isolation: the policy's ports, and the audit arriving live.
	step(t, ctx, 60*time.Second, "isolation page",
		chromedp.Navigate(g.base+"/isolation"),
		chromedp.WaitVisible(chromedp.ID("ports-h")),
		chromedp.WaitVisible(chromedp.CSS("#live-audit table")))
	if ports := text(t, ctx, "table"); !strings.Contains(ports, "9050") || !strings.Contains(ports, "default") {
		t.Fatalf("isolation ports table:\n%s", ports)
	}
	if audit := text(t, ctx, "#live-audit"); !strings.Contains(audit, "Streams seen from") {
		t.Fatalf("live audit:\n%s", audit)
	}
	shot(t, ctx, "08-isolation")

	// Disable.
	step(t, ctx, 60*time.Second, "disable",
		chromedp.Navigate(g.base+"/services/web"),
		chromedp.WaitVisible(chromedp.ID("disable")),
		chromedp.Click(chromedp.ID("disable")),
		chromedp.WaitVisible(chromedp.ID("enable")))
	if s := text(t, ctx, "#live-status .badge"); s != "Disabled" {
		t.Fatalf("state shown after disable: %q", s)
	}
	if s := g.service("web"); s.Enabled || s.State != "disabled" {
		t.Fatalf("web after disable: enabled %v state %s", s.Enabled, s.State)
	}
	shot(t, ctx, "09-web-disabled-again")

	// 360 px wide: nothing sticks out sideways.
	step(t, ctx, 30*time.Second, "narrow", chromedp.EmulateViewport(360, 800), chromedp.Navigate(g.base+"/services/guidemo"), chromedp.WaitVisible(chromedp.ID("options")))
	shot(t, ctx, "10-guidemo-360px")
	w, err := chromedp.Run(timeout(ctx, 10*time.Second), chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if err != nil || w > 360 {
		t.Fatalf("page width at 360 px: %d %v", w, err)
	}
	step(t, ctx, 30*time.Second, "narrow list", chromedp.Navigate(g.base+"/"), chromedp.WaitVisible(chromedp.CSS("ul.services")))
	shot(t, ctx, "11-services-360px")
}

func timeout(ctx context.Context, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(ctx, d)
	context.AfterFunc(c, cancel)
	return c
}

// TestGUIRefusals: without a session the GUI answers the login page and
// no data; a used login is refused; a forged or missing CSRF token
// gets 403 and changes nothing; a foreign Host header is refused.
func TestGUIRefusals(t *testing.T) {
	requireNet(t)
	g := startGUIDaemon(t)
	hc := &http.Client{CheckRedirect: noRedirect, Timeout: 30 * time.Second}
	get := func(path string, hdr ...string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, g.base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			if hdr[i] == "Host" {
				req.Host = hdr[i+1]
			} else {
				req.Header.Set(hdr[i], hdr[i+1])
			}
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp, b.String()
	}

	t.Run("no session gets the login page", func(t *testing.T) {
		for _, p := range []string{"/", "/services/web", "/services/web/clients/x/auth_private", "/settings", "/icons/web", "/events/services/web"} {
			resp, body := get(p)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Log in to Tails Server") || !strings.Contains(body, "tails-server gui") {
				t.Fatalf("GET %s without a session: %s\n%s", p, resp.Status, body)
			}
			for _, data := range []string{"Static web site", "onion", "csrf"} {
				if strings.Contains(body, data) {
					t.Fatalf("GET %s without a session shows %q", p, data)
				}
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") {
				t.Fatalf("Content-Security-Policy %q", csp)
			}
		}
	})

	t.Run("a login works once", func(t *testing.T) {
		action, token := readLoginFile(t, g.loginFile(t))
		if action != g.base+"/login" {
			t.Fatalf("the login file posts to %s, the GUI is at %s", action, g.base)
		}
		// The token in a URL, as login links had it, opens no session.
		if resp, _ := get("/login?token=" + token); resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 0 {
			t.Fatalf("token in the URL: %s %v", resp.Status, resp.Cookies())
		}
		resp, err := postLogin(hc, action, token)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("first use: %s", resp.Status)
		}
		var c *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == "tails_server_gui" {
				c = ck
			}
		}
		if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
			t.Fatalf("session cookie %+v", c)
		}
		waitFor(t, 30*time.Second, "the daemon's log says whose session opened", func() error {
			if !strings.Contains(g.log.String(), "GUI session opened for uid 0") {
				return errors.New("not yet")
			}
			return nil
		})
		if strings.Contains(g.log.String(), token) {
			t.Fatalf("the daemon's log holds the login token:\n%s", g.log)
		}
		resp, err = postLogin(hc, action, token)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 || !strings.Contains(string(body), "used already or has expired") {
			t.Fatalf("second use: %s %v\n%s", resp.Status, resp.Cookies(), body)
		}
		if resp, err = postLogin(hc, action, "forged"); err != nil || resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Fatalf("forged token: %v %v", resp, err)
		}
	})

	s := g.session(t)
	token := s.csrf(t)

	t.Run("foreign Host header is refused", func(t *testing.T) {
		port := strings.TrimPrefix(g.base, "http://127.0.0.1")
		for _, host := range []string{"evil.example" + port, "localhost" + port, "127.0.0.1:1", "tails-server.local"} {
			req, _ := http.NewRequest(http.MethodGet, g.base+"/services/web", nil)
			req.Host = host
			resp, err := s.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("Host %s: %s", host, resp.Status)
			}
		}
		if resp, _ := s.get(t, "/services/web"); resp.StatusCode != http.StatusOK {
			t.Fatalf("own Host: %s", resp.Status)
		}
	})

	t.Run("forged or missing CSRF token changes nothing", func(t *testing.T) {
		forged := strings.Repeat("A", len(token))
		for _, tok := range []string{"", forged, token[:len(token)-1]} {
			form := url.Values{"client": {"mallory"}}
			if tok != "" {
				form.Set("csrf", tok)
			}
			if resp, body := s.post(t, "/services/web/clients", form); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "nothing was changed") {
				t.Fatalf("add client with token %q: %s", tok, resp.Status)
			}
			form = url.Values{"opt-title": {"pwned"}}
			if tok != "" {
				form.Set("csrf", tok)
			}
			if resp, _ := s.post(t, "/services/web/options", form); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("set option with token %q: %s", tok, resp.Status)
			}
			if resp, _ := s.post(t, "/services/web/enable", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("enable with token %q: %s", tok, resp.Status)
			}
		}
		if names := apiClients(t, g.socket, "web"); len(names) != 0 {
			t.Fatalf("clients after forged requests: %v", names)
		}
		if o, err := client.New(g.socket).GetOption(context.Background(), "web", "title", false); err != nil || o.Value == "pwned" {
			t.Fatalf("title after forged requests: %+v %v", o, err)
		}
		if s := g.service("web"); s.Enabled {
			t.Fatal("web was enabled by a forged request")
		}
		// A request from another origin with the right token is refused too.
		req, _ := http.NewRequest(http.MethodPost, g.base+"/services/web/clients", strings.NewReader(url.Values{"client": {"mallory"}, "csrf": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://evil.example")
		resp, err := s.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("foreign Origin: %s", resp.Status)
		}
		// No session at all: refused, with the login page.
		if resp, _ := (&http.Client{CheckRedirect: noRedirect}).PostForm(g.base+"/services/web/clients", url.Values{"client": {"mallory"}, "csrf": {token}}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("no session: %s", resp.Status)
		}
		if names := apiClients(t, g.socket, "web"); len(names) != 0 {
			t.Fatalf("clients after forged requests: %v", names)
		}
		// The real token works (the control).
		resp, _ = s.post(t, "/services/web/clients", url.Values{"client": {"carol"}, "csrf": {token}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/services/web/clients/carol" {
			t.Fatalf("add client with the session's token: %s %s", resp.Status, resp.Header.Get("Location"))
		}
		if names := apiClients(t, g.socket, "web"); strings.Join(names, ",") != "carol" {
			t.Fatalf("clients: %v", names)
		}
		// Its credential file is what `client show --format auth-private` prints.
		_, file := s.get(t, "/services/web/clients/carol/auth_private")
		if want := g.mustCLI("client", "show", "web", "carol", "--format", "auth-private"); file != want {
			t.Fatalf("downloaded %q, CLI prints %q", file, want)
		}
		// Its page shows the key and file name that `share --client` gives.
		sh, err := client.New(g.socket).Share(context.Background(), "web", "carol")
		if err != nil {
			t.Fatal(err)
		}
		_, page := s.get(t, "/services/web/clients/carol")
		if sh.Key == "" || !strings.Contains(page, `id="key" class="mono" value="`+sh.Key+`"`) || !strings.Contains(page, `download="`+sh.CredentialFile+`"`) {
			t.Fatalf("the client page lacks the key %q or the file %q of share --client", sh.Key, sh.CredentialFile)
		}
	})

	t.Run("logout ends the session", func(t *testing.T) {
		if resp, _ := s.post(t, "/logout", url.Values{"csrf": {token}}); resp.StatusCode != http.StatusOK {
			t.Fatalf("logout: %s", resp.Status)
		}
		if resp, _ := s.get(t, "/"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("after logout: %s", resp.Status)
		}
	})
}

// TestGUIListenFlag: the GUI listens on 127.0.0.1 only; with
// --gui-listen off there is no login, and the CLI says why.
func TestGUIListenFlag(t *testing.T) {
	requireNet(t)
	tmp := backendTempDir(t)
	_, errOut, code := cli(t, nil, "daemon", "--state", filepath.Join(tmp, "s1"), "--network", "testnet", "--testnet-dir", tnet.Dir,
		"--socket", filepath.Join(tmp, "a1.sock"), "--firewall=false", "--gui-listen", "0.0.0.0:0")
	if code == 0 || !strings.Contains(errOut, "127.0.0.1 only") {
		t.Fatalf("--gui-listen 0.0.0.0:0: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(tmp, "s1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused --gui-listen left the state dir behind: %v", err)
	}
	d := startDaemon(t, filepath.Join(tmp, "s2"), filepath.Join(tmp, "a2.sock"), "--gui-listen", "off")
	_, errOut, code = d.cli("gui", "--no-open")
	if code != 1 || !strings.Contains(errOut, "the GUI is off") || !strings.Contains(errOut, "hint:") {
		t.Fatalf("gui with the GUI off: exit %d\n%s", code, errOut)
	}
}

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/socks"
	"tails-server/internal/testenv"
)

// wikiBrowser is a visitor of the wiki through a client tor: an HTTP
// client with its own cookies (DokuWiki's session and login).
type wikiBrowser struct {
	hc   *http.Client
	base string // http://ADDRESS.onion
}

func newWikiBrowser(t testing.TB, socksAddr, addr string) *wikiBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, target string) (net.Conn, error) {
			return socks.Dial(ctx, socksAddr, target, nil)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &wikiBrowser{hc: &http.Client{Jar: jar, Transport: tr, Timeout: 45 * time.Second}, base: "http://" + addr}
}

// do sends a GET (form nil) or a POST of form to doku.php with query q,
// and returns the status and the body.
func (w *wikiBrowser) do(q url.Values, form url.Values) (int, string, error) {
	u := w.base + "/doku.php?" + q.Encode()
	var resp *http.Response
	var err error
	if form == nil {
		resp, err = w.hc.Get(u)
	} else {
		resp, err = w.hc.PostForm(u, form)
	}
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, string(b), err
}

var (
	wikiHiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)
	wikiTitleRE  = regexp.MustCompile(`(?s)<title>(.*?)</title>`)
	wikiFormRE   = regexp.MustCompile(`(?s)<form [^>]*id="dw__editform".*?</form>`)
)

// hidden returns the hidden fields of the page's forms (the first value
// of each name).
func hidden(page string) url.Values {
	v := url.Values{}
	for _, m := range wikiHiddenRE.FindAllStringSubmatch(page, -1) {
		if v.Get(m[1]) == "" {
			v.Set(m[1], html.UnescapeString(m[2]))
		}
	}
	return v
}

// login logs in with DokuWiki's login form (its sectok included) and
// checks the page then offers to log out.
func (w *wikiBrowser) login(user, password string) error {
	_, page, err := w.do(url.Values{"id": {"start"}, "do": {"login"}}, nil)
	if err != nil {
		return err
	}
	f := hidden(page)
	if !f.Has("sectok") {
		return fmt.Errorf("no sectok in the login page: %.300q", page)
	}
	f.Set("id", "start")
	f.Set("do", "login")
	f.Set("u", user)
	f.Set("p", password)
	if _, page, err = w.do(url.Values{"id": {"start"}}, f); err != nil {
		return err
	}
	if !strings.Contains(page, "do=logout") {
		return fmt.Errorf("not logged in as %s: %.400q", user, wikiMessages(page))
	}
	return nil
}

// edit saves text as page id through the editor's form.
func (w *wikiBrowser) edit(id, text string) error {
	_, page, err := w.do(url.Values{"id": {id}, "do": {"edit"}}, nil)
	if err != nil {
		return err
	}
	form := wikiFormRE.FindString(page)
	if form == "" {
		return fmt.Errorf("no editor for %s: %.300q", id, wikiMessages(page))
	}
	f := hidden(form)
	f.Set("wikitext", text)
	f.Set("summary", "from the e2e test")
	f.Set("do[save]", "1")
	_, _, err = w.do(url.Values{"id": {id}}, f)
	return err
}

// raw returns page id's source (do=export_raw) and the status.
func (w *wikiBrowser) raw(id string) (int, string, error) {
	return w.do(url.Values{"id": {id}, "do": {"export_raw"}}, nil)
}

// wikiMessages returns DokuWiki's messages on a page (errors, notices).
func wikiMessages(page string) string {
	var out []string
	for _, m := range regexp.MustCompile(`(?s)<div class="(?:error|info|success|notify)">(.*?)</div>`).FindAllStringSubmatch(page, -1) {
		out = append(out, strings.TrimSpace(m[1]))
	}
	if len(out) == 0 {
		return page
	}
	return strings.Join(out, " | ")
}

// TestServiceWiki drives the wiki (Debian's DokuWiki under lighttpd and
// php-cgi, as its own user) through the onion with an independent client
// tor and client auth: the start page, the admin's login with the
// password from `share`, a page created and read back, registration
// refused while off, reading refused to visitors until public-read, the
// page after a daemon restart and, persistent, after a reboot; hostile
// titles land escaped in DokuWiki's PHP config (php -l) and read back
// exactly through the wiki.
func TestServiceWiki(t *testing.T) {
	php := testenv.RequireProgram(t, "php")
	s := enableCatalogService(t, "wiki", "php-cgi")
	s.checkConfinement(t, "tails-server-wiki")

	var sh apitype.Share
	if err := json.Unmarshal([]byte(s.d.mustCLI("-o", "json", "share", "wiki", "--client", "ann")), &sh); err != nil {
		t.Fatal(err)
	}
	detail := map[string]string{}
	for _, d := range sh.Details {
		detail[d.Label] = d.Value
	}
	admin, password := detail["Admin login"], detail["Admin password"]
	if admin != "admin" || len(password) != 24 || sh.Credential == "" || !strings.HasPrefix(sh.URI, "http://"+s.addr) {
		t.Fatalf("share: login %q, password of %d characters, credential %t, URI %q", admin, len(password), sh.Credential != "", sh.URI)
	}
	for _, f := range []string{"lighttpd.conf", "dokuwiki.php", "php.ini"} {
		if c := s.config(t, f); strings.Contains(c, "/etc/dokuwiki/local") || strings.Contains(c, "conf-enabled") || strings.Contains(c, password) {
			t.Errorf("%s reads Debian's site or holds the password:\n%s", f, c)
		}
	}
	phpLint(t, php, s, "dokuwiki.php", "setup.php", "prepend.php")

	visitor := newWikiBrowser(t, s.client.tor.SocksAddr, s.addr)
	hostUser := newWikiBrowser(t, s.client.tor.SocksAddr, s.addr)
	s.prove(t, "the start page, reading refused to a visitor", func(net.Conn) error {
		code, page, err := visitor.do(url.Values{"id": {"start"}}, nil)
		if err != nil {
			return err
		}
		// 404: the start page is not written yet.
		if code >= 500 || !strings.Contains(page, "<title>start [Our wiki]</title>") || !strings.Contains(page, "Permission Denied") {
			return fmt.Errorf("status %d: %.300q", code, wikiMessages(page))
		}
		return nil
	})
	const text = "====== Meeting notes ======\nWritten through the onion by the admin.\n"
	s.prove(t, "the admin logs in and creates a page", func(net.Conn) error {
		if err := hostUser.login(admin, password); err != nil {
			return err
		}
		if err := hostUser.edit("notes", text); err != nil {
			return err
		}
		return wantRaw(hostUser, "notes", text)
	})
	if err := (&wikiBrowser{hc: visitor.hc, base: visitor.base}).login(admin, "wrong-password"); err == nil {
		t.Fatal("a wrong admin password logs in")
	}
	if code, body, err := visitor.raw("notes"); err != nil || strings.Contains(body, "Written through the onion") {
		t.Fatalf("a visitor reads the page with public-read off: status %d, %v", code, err)
	}

	t.Run("what is not served", func(t *testing.T) {
		for _, p := range []string{"/install.php", "/inc/init.php", "/bin/dwpage.php", "/vendor/autoload.php",
			"/.htaccess.dist", "/lib/plugins/authpdo/_test/test.sqlite3", "/conf/local.php"} {
			resp, err := visitor.hc.Get(visitor.base + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 403 {
				t.Errorf("GET %s: status %d, want 403", p, resp.StatusCode)
			}
		}
	})

	t.Run("registration off", func(t *testing.T) {
		page := wikiRegister(t, visitor, "mallory")
		users := readServiceFile(t, s, "conf/users.auth.php")
		if strings.Contains(users, "mallory") || strings.Contains(page, "do=logout") {
			t.Fatalf("registration went through with registration off: %q\nusers.auth.php:\n%s", wikiMessages(page), users)
		}
		if err := newWikiBrowser(t, s.client.tor.SocksAddr, s.addr).login("mallory", "mallory-pass-1"); err == nil {
			t.Fatal("the refused registrant logs in")
		}
	})

	t.Run("registration on", func(t *testing.T) {
		s.set(t, "registration", "true")
		bob := newWikiBrowser(t, s.client.tor.SocksAddr, s.addr)
		s.prove(t, "a visitor registers and logs in", func(net.Conn) error {
			wikiRegister(t, bob, "bob")
			return newWikiBrowser(t, s.client.tor.SocksAddr, s.addr).login("bob", "bob-pass-1")
		})
		s.set(t, "registration", "false")
	})

	t.Run("public-read", func(t *testing.T) {
		s.set(t, "public-read", "true")
		s.prove(t, "a visitor reads the page", func(net.Conn) error { return wantRaw(visitor, "notes", text) })
	})

	t.Run("hostile titles", func(t *testing.T) {
		count := func(t *testing.T) int { return strings.Count(s.config(t, "dokuwiki.php"), "$conf[") }
		s.hostile(t, "title", count, func(t *testing.T, v string) {
			phpLint(t, php, s, "dokuwiki.php")
			s.prove(t, "the title read back through the wiki", func(net.Conn) error {
				_, page, err := visitor.do(url.Values{"id": {"notes"}}, nil)
				if err != nil {
					return err
				}
				m := wikiTitleRE.FindStringSubmatch(page)
				if m == nil || html.UnescapeString(m[1]) != "notes ["+v+"]" {
					return fmt.Errorf("<title> %q, want the page's and %q", m, v)
				}
				return nil
			})
		})
	})

	t.Run("admin account", func(t *testing.T) {
		_, stderr, code := s.d.in(t).cli("set-option", "wiki", "admin-name", "Ann Smith")
		wantOneLineError(t, stderr, code, 1, "use 1 to 64 lower-case letters")
		newPassword := `new:pass\word #x'"?>`
		s.set(t, "admin-password", newPassword)
		s.prove(t, "the admin logs in with the new password", func(net.Conn) error {
			return newWikiBrowser(t, s.client.tor.SocksAddr, s.addr).login(admin, newPassword)
		})
		if err := newWikiBrowser(t, s.client.tor.SocksAddr, s.addr).login(admin, password); err == nil {
			t.Fatal("the old admin password still logs in")
		}
		password = newPassword
	})

	t.Run("kill -9", func(t *testing.T) {
		s.kill9(t)
		s.prove(t, "the page after the restart of lighttpd", func(net.Conn) error { return wantRaw(visitor, "notes", text) })
		// The killed lighttpd's php-cgi went with it: one master and its
		// two children are left, the new ones.
		waitFor(t, 15*time.Second, "no php-cgi left over", func() error {
			if n := userProcesses(t, "tails-server-wiki", "php-cgi"); n != 3 {
				return fmt.Errorf("%d php-cgi processes of tails-server-wiki, want 3", n)
			}
			return nil
		})
	})

	t.Run("daemon restart", func(t *testing.T) {
		restartWikiDaemon(t, s, false)
		s.prove(t, "the page after a daemon restart", func(net.Conn) error { return wantRaw(visitor, "notes", text) })
	})

	t.Run("persistence across a reboot", func(t *testing.T) {
		s.set(t, "persistence", "true")
		restartWikiDaemon(t, s, true)
		s.prove(t, "the page after a reboot", func(net.Conn) error { return wantRaw(visitor, "notes", text) })
		fresh := newWikiBrowser(t, s.client.tor.SocksAddr, s.addr)
		s.prove(t, "the admin logs in after the reboot", func(net.Conn) error { return fresh.login(admin, password) })
	})
}

// wikiRegister fills DokuWiki's registration form for login (password
// LOGIN-pass-1) and returns the answer.
func wikiRegister(t *testing.T, w *wikiBrowser, login string) string {
	t.Helper()
	_, page, err := w.do(url.Values{"do": {"register"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := hidden(page)
	for k, v := range map[string]string{"do": "register", "save": "1", "login": login, "pass": login + "-pass-1",
		"passchk": login + "-pass-1", "fullname": login, "email": login + "@example.org"} {
		f.Set(k, v)
	}
	_, page, err = w.do(url.Values{"id": {"start"}}, f)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

// wantRaw checks page id's source is text.
func wantRaw(w *wikiBrowser, id, text string) error {
	code, body, err := w.raw(id)
	if err != nil {
		return err
	}
	if code != 200 || strings.TrimSpace(body) != strings.TrimSpace(text) {
		return fmt.Errorf("%s: status %d, source %.300q", id, code, body)
	}
	return nil
}

// phpLint runs php -l on the service's rendered PHP files.
func phpLint(t *testing.T, php string, s *catalogSvc, files ...string) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(s.d.service(s.name).Details.DataDir, "config", f)
		if out, err := exec.Command(php, "-n", "-l", p).CombinedOutput(); err != nil {
			t.Fatalf("php -l %s: %v\n%s", f, err, out)
		}
	}
}

// userProcesses counts the live processes of user named comm.
func userProcesses(t *testing.T, user, comm string) int {
	t.Helper()
	u, err := osuser.Lookup(user)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		c, err1 := os.ReadFile(filepath.Join(d, "comm"))
		st, err2 := os.ReadFile(filepath.Join(d, "status"))
		if err1 != nil || err2 != nil || strings.TrimSpace(string(c)) != comm {
			continue
		}
		uid, zombie := "", false
		for _, l := range strings.Split(string(st), "\n") {
			f := strings.Fields(l)
			switch {
			case len(f) > 1 && f[0] == "Uid:":
				uid = f[1]
			case len(f) > 1 && f[0] == "State:":
				zombie = f[1] == "Z"
			}
		}
		if uid == u.Uid && !zombie {
			n++
		}
	}
	return n
}

// readServiceFile reads a file of the service's data folder.
func readServiceFile(t *testing.T, s *catalogSvc, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.d.service(s.name).Details.DataDir, "data", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// restartWikiDaemon stops the daemon and starts it again on the same
// state (reboot: with the volatile root wiped first), then enables the
// service again (autostart is off) with the same onion address.
func restartWikiDaemon(t *testing.T, s *catalogSvc, reboot bool) {
	t.Helper()
	addr := s.addr
	s.d.stop()
	if reboot {
		if err := os.RemoveAll(s.d.state + "-volatile"); err != nil {
			t.Fatal(err)
		}
	}
	s.d = startDaemon(s.d.t, s.d.state, s.d.socket)
	if out := s.d.in(t).mustCLI("enable", s.name, "--wait", "150s"); !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable %s again:\n%s", s.name, out)
	}
	if got := s.d.in(t).service(s.name).OnionAddress; got != addr {
		t.Fatalf("onion address %s after the restart, was %s", got, addr)
	}
}

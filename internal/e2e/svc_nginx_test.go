package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tails-server/internal/apitype"
)

// nginxGet sends one GET for path through c and returns the response
// (its body read whole).
func nginxGet(c net.Conn, host, path string) (*http.Response, string, error) {
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, err = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp, b.String(), err
}

// TestServiceNginx drives the nginx service (Debian's nginx-light, its own
// config, run as its own user) through the onion with an independent
// client tor: the site is served, dot files, links and folders without an
// index are not, no file time reaches a visitor unless file-times is on,
// Debian's system-wide site is never read, kill -9 and set-option of each
// option, and hostile values for the folder.
func TestServiceNginx(t *testing.T) {
	s := enableCatalogService(t, "nginx", "nginx")
	data := filepath.Join(s.d.service("nginx").Details.DataDir, "data")
	put := func(rel, text string) {
		t.Helper()
		p := filepath.Join(data, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	get := func(path string, check func(*http.Response, string) error) func(net.Conn) error {
		return func(c net.Conn) error {
			resp, body, err := nginxGet(c, s.addr, path)
			if err != nil {
				return err
			}
			return check(resp, body)
		}
	}
	page := func(want string) func(*http.Response, string) error {
		return func(resp *http.Response, body string) error {
			if resp.StatusCode != 200 || !strings.Contains(body, want) {
				return fmt.Errorf("status %d, body %q; want 200 with %q", resp.StatusCode, body, want)
			}
			return nil
		}
	}
	status := func(code int, secret string) func(*http.Response, string) error {
		return func(resp *http.Response, body string) error {
			if resp.StatusCode != code || (secret != "" && strings.Contains(body, secret)) {
				return fmt.Errorf("status %d, body %q; want %d without the file", resp.StatusCode, body, code)
			}
			return nil
		}
	}

	put("www/index.html", "served by nginx")
	s.prove(t, "the site through the onion", get("/", page("served by nginx")))
	s.checkConfinement(t, "tails-server-nginx")

	conf := s.config(t, "nginx.conf")
	if strings.Contains(conf, "/etc/nginx/sites-") || strings.Contains(conf, "conf.d") {
		t.Errorf("the config reads Debian's system-wide site:\n%s", conf)
	}
	nginxTest(t, s)

	t.Run("what is not served", func(t *testing.T) {
		for _, name := range []string{".secret", ".git/config", "sub/.htpasswd"} {
			put("www/"+name, "hidden content")
			s.prove(t, "GET /"+name, get("/"+name, status(404, "hidden content")))
		}
		// A link a backend user planted to a file of root's.
		secret := filepath.Join(data, "root-only")
		if err := os.WriteFile(secret, []byte("root's secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(secret, filepath.Join(data, "www", "link")); err != nil {
			t.Fatal(err)
		}
		s.prove(t, "GET /link", get("/link", status(403, "root's secret")))
		put("www/folder/readme.txt", "no index here")
		s.prove(t, "GET /folder/", get("/folder/", status(403, "readme.txt")))
		s.prove(t, "GET /.nginx/nginx.pid", get("/.nginx/nginx.pid", status(404, "")))
	})

	t.Run("file times", func(t *testing.T) {
		noTimes := func(resp *http.Response, body string) error {
			if err := page("served by nginx")(resp, body); err != nil {
				return err
			}
			if v := resp.Header.Get("Last-Modified") + resp.Header.Get("ETag"); v != "" {
				return fmt.Errorf("file time sent to visitors: Last-Modified %q, ETag %q",
					resp.Header.Get("Last-Modified"), resp.Header.Get("ETag"))
			}
			return nil
		}
		s.prove(t, "no Last-Modified or ETag by default", get("/", noTimes))
		s.set(t, "file-times", "true")
		nginxTest(t, s)
		s.prove(t, "Last-Modified with file-times on", get("/", func(resp *http.Response, body string) error {
			if resp.Header.Get("Last-Modified") == "" {
				return fmt.Errorf("no Last-Modified with file-times on (headers %v)", resp.Header)
			}
			return nil
		}))
		s.set(t, "file-times", "false")
		s.prove(t, "no Last-Modified again", get("/", noTimes))
	})

	t.Run("kill -9 of nginx", func(t *testing.T) {
		s.kill9(t)
		s.prove(t, "the site after the restart", get("/", page("served by nginx")))
	})

	t.Run("set-option document-root", func(t *testing.T) {
		put("site/public/index.html", "second folder")
		s.set(t, "document-root", "site/public")
		s.prove(t, "the new folder", get("/", page("second folder")))
		for _, bad := range []string{"../etc", "/etc", ".hidden", "a\"b", "x\ny", "$(touch /tmp/x)", "{{.port}}", "a;b"} {
			_, stderr, code := s.d.in(t).cli("set-option", "nginx", "document-root", bad)
			wantOneLineError(t, stderr, code, 1, "document-root")
		}
		if got := s.option(t, "document-root"); got != "site/public" {
			t.Fatalf("refused values changed the option to %q", got)
		}
	})

	t.Run("hostile values", func(t *testing.T) {
		directives := func(t *testing.T) int { return strings.Count(s.config(t, "nginx.conf"), ";") }
		s.hostile(t, "document-root", directives, func(t *testing.T, v string) { nginxTest(t, s) })
	})

	t.Run("a new folder is created", func(t *testing.T) {
		s.set(t, "document-root", "empty")
		if fi, err := os.Stat(filepath.Join(data, "empty")); err != nil || !fi.IsDir() {
			t.Fatalf("document-root empty: folder not created: %v", err)
		}
		s.prove(t, "an empty folder answers 403", get("/", status(403, "")))
	})
}

// BenchmarkEnable_nginx measures the seconds from `enable nginx` to the
// first HTTP answer through the onion (an empty folder: 403).
func BenchmarkEnable_nginx(b *testing.B) {
	benchEnable(b, "nginx", "nginx", func(c net.Conn, svc apitype.Service, _ string) error {
		resp, _, err := nginxGet(c, svc.OnionAddress, "/")
		if err == nil && resp.StatusCode >= 500 {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return err
	}, "")
}

// nginxTest runs `nginx -t` on the service's rendered config, as its user.
func nginxTest(t *testing.T, s *catalogSvc) {
	t.Helper()
	dir := s.d.service("nginx").Details.DataDir
	cmd := exec.Command("setpriv", "--reuid=tails-server-nginx", "--regid=tails-server-nginx", "--init-groups",
		"nginx", "-t", "-e", "stderr", "-p", filepath.Join(dir, "data", ".nginx")+"/", "-c", filepath.Join(dir, "config", "nginx.conf"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}

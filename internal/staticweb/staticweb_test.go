package staticweb

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, s *Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServesWelcomeAndRefusesEscapes(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "www")
	if err := WriteWelcome(root, "Hello group"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(base, "secret.txt"), []byte("outside"), 0o600)
	os.WriteFile(filepath.Join(root, ".hidden"), []byte("dot"), 0o600)
	os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(root, "link.txt"))

	s, err := Start(root, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("listens on %s, want loopback", s.Addr())
	}
	if code, body := get(t, s, "/"); code != 200 || !strings.Contains(body, "Hello group") {
		t.Fatalf("GET / = %d %q", code, body)
	}
	for _, p := range []string{"/../secret.txt", "/%2e%2e/secret.txt", "/.hidden", "/link.txt", "/nope"} {
		if code, body := get(t, s, p); code != 404 || strings.Contains(body, "outside") {
			t.Errorf("GET %s = %d %q, want 404", p, code, body)
		}
	}
	// An existing index is never overwritten.
	os.WriteFile(filepath.Join(root, "index.html"), []byte("mine"), 0o644)
	WriteWelcome(root, "again")
	if _, body := get(t, s, "/"); body != "mine" {
		t.Fatalf("index overwritten: %q", body)
	}
}

// TestWelcomeNamesNoPath: the welcome page names no local path (a user
// name under a home, the volatile root's name shared by all services),
// and one written by an older version, which did, loses that line.
func TestWelcomeNamesNoPath(t *testing.T) {
	root := filepath.Join(t.TempDir(), "home", "alice", "state", "www")
	if err := WriteWelcome(root, "Hello group"); err != nil {
		t.Fatal(err)
	}
	s, err := Start(root, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, body := get(t, s, "/")
	if strings.Contains(body, "alice") || strings.Contains(body, root) || !strings.Contains(body, "Hello group") {
		t.Fatalf("welcome page:\n%s", body)
	}
	// The page of the previous version, with the path in it.
	old := "<!doctype html>\n<title>Old</title>\n<h1>Old</h1>\n" +
		"<p>This page is served by tails-server from its host's own machine, reachable only as a Tor onion service.</p>\n" +
		"<p>The host can replace it: put files in <code>" + root + "</code>.</p>\n"
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteWelcome(root, "Hello group"); err != nil {
		t.Fatal(err)
	}
	_, body = get(t, s, "/")
	if strings.Contains(body, "alice") || !strings.Contains(body, "<h1>Old</h1>") || !strings.Contains(body, "replace this page") {
		t.Fatalf("upgraded welcome page:\n%s", body)
	}
}

// TestNoFileTimes: by default no Last-Modified tells a visitor when the
// host changed a file; with FileTimes, it is the file's time in UTC.
func TestNoFileTimes(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "page.html")
	os.WriteFile(p, []byte("page"), 0o644)
	mtime := time.Date(2024, 7, 4, 15, 30, 10, 0, time.UTC)
	os.Chtimes(p, mtime, mtime)
	for _, c := range []struct {
		opts Options
		want string
	}{{Options{}, ""}, {Options{FileTimes: true}, "Thu, 04 Jul 2024 15:30:10 GMT"}} {
		s, err := Serve(root, "127.0.0.1:0", c.opts)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get("http://" + s.Addr() + "/page.html")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		s.Close()
		if lm := resp.Header.Get("Last-Modified"); lm != c.want {
			t.Errorf("%+v: Last-Modified %q, want %q", c.opts, lm, c.want)
		}
	}
}

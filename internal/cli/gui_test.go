package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
)

// The login file is the caller's alone: 0600, in $XDG_RUNTIME_DIR only
// when that is a private directory of the caller's, else in a fresh 0700
// directory; it holds the token in a form, never in a URL.
func TestWriteLoginFile(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	l := apitype.GUILogin{URL: "http://127.0.0.1:4242/login", Token: strings.Repeat("T", 43), Expires: time.Now().Add(time.Minute)}
	private := filepath.Join(t.TempDir(), "run")
	os.Mkdir(private, 0o700)
	open := filepath.Join(t.TempDir(), "open")
	os.Mkdir(open, 0o755)
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(private, link)
	for _, c := range []struct {
		runtime string
		inside  bool
	}{{private, true}, {open, false}, {link, false}, {"", false}, {"relative", false}} {
		t.Setenv("XDG_RUNTIME_DIR", c.runtime)
		path, err := writeLoginFile(l)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.HasPrefix(path, private+"/"); got != c.inside {
			t.Errorf("XDG_RUNTIME_DIR=%q: login file %s", c.runtime, path)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("login file %s: %v %v", path, fi, err)
		}
		if !ownPrivateDir(filepath.Dir(path)) {
			t.Errorf("the login file's directory %s is not private", filepath.Dir(path))
		}
		b, _ := os.ReadFile(path)
		page := string(b)
		if !strings.Contains(page, `<form id="login" method="post" action="http://127.0.0.1:4242/login">`) ||
			!strings.Contains(page, `name="token" value="`+l.Token+`"`) || !strings.Contains(page, `<button type="submit">`) ||
			strings.Contains(page, "?token=") {
			t.Fatalf("login file:\n%s", page)
		}
	}
}

package staticweb

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

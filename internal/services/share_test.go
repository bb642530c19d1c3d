package services

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"tails-server/internal/testenv"
)

func TestDetailFile(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	fp := filepath.Join(data, "fingerprint")
	if err := os.WriteFile(fp, []byte("256 SHA256:abc\x1b[31m host (ED25519)\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := detailFile(fp, filepath.Join(root, "config"), data)
	if err != nil || got != "256 SHA256:abc[31m host (ED25519)" {
		t.Errorf("detailFile = %q, %v; want the first line without control characters", got, err)
	}
	if got, err := detailFile(filepath.Join(data, "missing"), data); err != nil || got != notYet {
		t.Errorf("missing file: %q, %v; want %q", got, err, notYet)
	}
	for _, outside := range []string{"/etc/passwd", filepath.Join(data, "../../x"), root} {
		if _, err := detailFile(outside, data); err == nil || !strings.Contains(err.Error(), "outside") {
			t.Errorf("detailFile(%q) = %v; want it refused as outside", outside, err)
		}
	}
}

// TestChownTreeStaysInside: a symlink in the tree, to a file outside it,
// keeps the outside file's owner.
func TestChownTreeStaysInside(t *testing.T) {
	testenv.RequireRoot(t, "this test changes owners")
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "sub"), 0o755)
	os.WriteFile(filepath.Join(root, "sub", "f"), nil, 0o600)
	if err := os.Symlink(outside, filepath.Join(root, "sub", "link")); err != nil {
		t.Fatal(err)
	}
	if err := chownTree(root, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	owner := func(p string) int {
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		return int(st.Uid)
	}
	if owner(filepath.Join(root, "sub", "f")) != 4242 || owner(filepath.Join(root, "sub", "link")) != 4242 {
		t.Error("the tree was not given to the user")
	}
	if owner(outside) != 0 {
		t.Error("a symlink led chownTree outside its tree")
	}
}

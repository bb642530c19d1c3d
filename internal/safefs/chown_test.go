package safefs

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRemoveAllAndChown(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "hs", "web")
	if err := os.MkdirAll(filepath.Join(p, "authorized_clients"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(p, "hostname"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(p, "authorized_clients", "a.auth"), []byte("x"), 0o600)
	outside := filepath.Join(root, "outside")
	os.WriteFile(outside, []byte("keep"), 0o600)
	os.Symlink(outside, filepath.Join(p, "link"))
	d, err := OpenDir(root, "hs", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Chown("web", os.Getuid(), -1); err != nil {
		t.Fatal(err)
	}
	if err := d.Chown("", os.Getuid(), -1); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveAll("web"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("web still there: %v", err)
	}
	if b, err := os.ReadFile(outside); err != nil || string(b) != "keep" {
		t.Errorf("the symlink's target was touched: %q %v", b, err)
	}
	if err := d.RemoveAll("web"); err != nil {
		t.Errorf("a missing one: %v", err)
	}
	if err := d.RemoveAll("../x"); err == nil {
		t.Error("a name with a slash was taken")
	}
}

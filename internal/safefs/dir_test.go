package safefs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDir: OpenDir creates the folder and refuses one that is a symlink;
// WriteNew writes 0600 whatever the umask, never replaces a name and
// leaves no temporary file; ReadFile reads no symlink nor FIFO; Remove
// removes a symlink itself; RemoveTemp removes what a kill left.
func TestDir(t *testing.T) {
	top := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600)
	if err := os.Symlink(outside, filepath.Join(top, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDir(top, "link", 0o700); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("OpenDir of a symlink: %v", err)
	}
	if _, err := OpenDir(top, "link/sub", 0o700); err == nil {
		t.Fatal("OpenDir through a symlink")
	}
	if _, err := OpenDir(top, "missing/sub", 0o700); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenDir under a missing folder: %v", err)
	}
	old := syscall.Umask(0o077)
	syscall.Umask(0)
	d, err := OpenDir(top, "box", 0o700)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if fi, err := os.Stat(filepath.Join(top, "box")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the folder: %v", err)
	}
	syscall.Umask(0)
	err = d.WriteNew("a", []byte("one"), 0o600)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(top, "box", "a")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the file: %v %v", fi.Mode(), err)
	}
	if err := d.WriteNew("a", []byte("two"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("WriteNew over a name: %v", err)
	}
	if b, err := d.ReadFile("a", 10); err != nil || string(b) != "one" {
		t.Fatalf("ReadFile: %q %v", b, err)
	}
	if _, err := d.ReadFile("a", 2); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ReadFile over the limit: %v", err)
	}
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(top, "box", "s"))
	syscall.Mkfifo(filepath.Join(top, "box", "fifo"), 0o600)
	for _, n := range []string{"s", "fifo"} {
		if _, err := d.ReadFile(n, 100); !errors.Is(err, ErrNotRegular) {
			t.Errorf("ReadFile(%s): %v", n, err)
		}
	}
	for _, n := range []string{"../a", "", "..", "x/y"} {
		if err := d.WriteNew(n, nil, 0o600); err == nil {
			t.Errorf("WriteNew(%q) accepted", n)
		}
	}
	if err := d.Remove("s"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(outside, "secret")); err != nil {
		t.Fatal("Remove of a symlink removed its target")
	}
	if err := d.Remove("s"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Remove of a missing name: %v", err)
	}
	os.WriteFile(filepath.Join(top, "box", TempPrefix+"0011"), []byte("half"), 0o600)
	if err := d.RemoveTemp(); err != nil {
		t.Fatal(err)
	}
	names, err := d.Names()
	if err != nil || len(names) != 2 { // a, fifo
		t.Fatalf("names after RemoveTemp: %v %v", names, err)
	}
}

package safefs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadFileRefusesWhatIsNotAFile: a symlink (last component or on the
// way), a FIFO, a directory and an oversized file are refused with an
// error that names what was found; none blocks; a regular file is read.
func TestReadFileRefusesWhatIsNotAFile(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("root-only"), 0o600)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "certs"), 0o755)
	os.WriteFile(filepath.Join(dir, "certs", "ok"), []byte("fingerprint\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "big"), make([]byte, 100), 0o644)
	os.Symlink(secret, filepath.Join(dir, "link"))
	os.Symlink(filepath.Dir(secret), filepath.Join(dir, "linkdir"))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(dir, "certs/ok", 64); err != nil || string(b) != "fingerprint\n" {
		t.Errorf("regular file: %q, %v", b, err)
	}
	for _, tt := range []struct {
		name, want string
		is         error
	}{
		{"link", "symbolic link", ErrNotRegular},
		{"linkdir/secret", "not a directory", ErrNotRegular},
		{"fifo", "FIFO", ErrNotRegular},
		{"certs", "directory", ErrNotRegular},
		{"big", "more than 64", ErrTooLarge},
		{"missing", "no such file", fs.ErrNotExist},
		{"../x", "not a path inside", nil},
		{"/etc/passwd", "not a path inside", nil},
	} {
		b, err := ReadFile(dir, tt.name, 64)
		if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) {
			t.Errorf("ReadFile(%s) = %q, %v; want an error about %q", tt.name, b, err, tt.want)
		}
		if strings.Contains(string(b), "root-only") || (err != nil && strings.Contains(err.Error(), "root-only")) {
			t.Errorf("ReadFile(%s) showed the file a symlink points to", tt.name)
		}
	}
}

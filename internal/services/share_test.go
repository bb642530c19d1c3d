package services

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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

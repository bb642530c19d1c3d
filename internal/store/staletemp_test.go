package store

import (
	"os"
	"path/filepath"
	"testing"
)

// A kill between WriteFile's CreateTemp and its rename leaves the
// temporary file; the next start removes it, and nothing else.
func TestOpenRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	persistent, volatile := filepath.Join(dir, "state"), filepath.Join(dir, "volatile")
	st, err := Open(persistent, volatile)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(&Service{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	svc := filepath.Dir(st.recordPath("web"))
	config := filepath.Join(svc, "config")
	data := filepath.Join(svc, "data")
	for _, d := range []string{config, data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// What a cut-short WriteFile leaves, in each place the daemon writes.
	var stale []string
	for _, d := range []string{persistent, filepath.Join(persistent, "services"), svc, config, volatile} {
		f, err := os.CreateTemp(d, ".service.json.tmp-*")
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		stale = append(stale, f.Name())
	}
	// What is not the daemon's to remove: the service's own data, and
	// names that only look alike.
	keep := []string{filepath.Join(data, ".notes.txt.tmp-123"), filepath.Join(svc, "service.json.tmp-1"),
		filepath.Join(config, ".ngircd.conf.tmp-x")}
	for _, p := range keep {
		if err := os.WriteFile(p, []byte("mine"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Open(persistent, volatile); err != nil {
		t.Fatal(err)
	}
	for _, p := range stale {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s left after Open", p)
		}
	}
	for _, p := range keep {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
	if _, err := os.Stat(st.recordPath("web")); err != nil {
		t.Errorf("the record itself: %v", err)
	}
}

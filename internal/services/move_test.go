package services

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"tails-server/internal/catalog"
	"tails-server/internal/store"
	catalogfs "tails-server/services"
)

// TestSetPersistenceWhereTheFilesDisagree starts on what a kill during the
// copy of a move to the persistent root left in a version that saved the
// option before moving: the record says persistence true, the files are
// in the volatile root, a half-made copy in the persistent one. The value
// reads false (where the files are), and setting true moves the files
// rather than answering that nothing needs doing.
func TestSetPersistenceWhereTheFilesDisagree(t *testing.T) {
	dir := t.TempDir()
	pdir, vdir := filepath.Join(dir, "state"), filepath.Join(dir, "volatile")
	web := filepath.Join(vdir, "services", "web")
	for path, body := range map[string]string{
		filepath.Join(web, "service.json"):                           `{"name":"web","persistent":false,"options":{"persistence":"true"}}`,
		filepath.Join(web, "data", "www", "notes.txt"):               "notes",
		filepath.Join(pdir, "services", ".web.moving-1234", "x.txt"): "half",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(pdir, vdir)
	if err != nil {
		t.Fatal(err)
	}
	cat, _ := catalog.Load(catalogfs.FS)
	m, err := New(st, OneTor{T: countedTor{}}, cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := m.GetOption("web", catalog.OptPersistence, false); o.Value != "false" {
		t.Fatalf("persistence reads %q with the files in the volatile root", o.Value)
	}
	r, err := m.SetOption(context.Background(), "web", catalog.OptPersistence, "true")
	if err != nil {
		t.Fatal(err)
	}
	if r.Option.Value != "true" || !st.IsPersistent("web") {
		t.Fatalf("set-option persistence true answered %q, files persistent: %v", r.Option.Value, st.IsPersistent("web"))
	}
	if b, err := os.ReadFile(filepath.Join(pdir, "services", "web", "data", "www", "notes.txt")); string(b) != "notes" {
		t.Fatalf("data after the move: %q, %v", b, err)
	}
	if _, err := os.Stat(web); !os.IsNotExist(err) {
		t.Fatalf("the volatile copy is still there: %v", err)
	}
}

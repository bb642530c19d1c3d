package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFileAtomicAndPrivate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := WriteFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "two" {
		t.Fatalf("content = %q, want two", b)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temp files left behind: %v", ents)
	}
}

func TestServiceRoundTrip(t *testing.T) {
	s, err := Open(t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Load("web")
	if err != nil || rec.Enabled || rec.Name != "web" {
		t.Fatalf("fresh record = %+v, %v", rec, err)
	}
	rec.Enabled = true
	rec.Address = "abc"
	rec.Clients = []Client{{Name: "zoe"}, {Name: "al"}}
	if err := s.Save(rec); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load("web")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Enabled || got.Address != "abc" || got.Clients[0].Name != "al" || got.Client("zoe") == nil {
		t.Fatalf("loaded %+v", got)
	}
	fi, _ := os.Stat(filepath.Join(s.ServiceDir("web"), "service.json"))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("record mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestOpenRefusesUnwritableDir(t *testing.T) {
	if os.Geteuid() == 0 {
		// root writes anywhere; use a path under a regular file instead.
		f := filepath.Join(t.TempDir(), "file")
		os.WriteFile(f, nil, 0o600)
		if _, err := Open(filepath.Join(f, "state"), t.TempDir()); err == nil {
			t.Fatal("Open under a regular file succeeded")
		}
		return
	}
	d := t.TempDir()
	os.Chmod(d, 0o500)
	if _, err := Open(d, t.TempDir()); err == nil {
		t.Fatal("Open of a read-only dir succeeded")
	}
}

func TestPersistenceMovesAtomically(t *testing.T) {
	pdir, vdir := t.TempDir(), t.TempDir()
	s, err := Open(pdir, vdir)
	if err != nil {
		t.Fatal(err)
	}
	// A new service is amnesic: it lives in the volatile root.
	if err := s.WriteKey("web", []byte("key")); err != nil {
		t.Fatal(err)
	}
	rec, _ := s.Load("web")
	rec.Address = "addr"
	rec.Options = map[string]string{"title": "x"}
	if err := s.Save(rec); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(s.ServiceDir("web"), "data", "www"), 0o755)
	os.WriteFile(filepath.Join(s.ServiceDir("web"), "data", "www", "index.html"), []byte("hi"), 0o644)
	if s.IsPersistent("web") || !strings.HasPrefix(s.ServiceDir("web"), vdir) {
		t.Fatalf("new service in %s", s.ServiceDir("web"))
	}

	if err := s.SetPersistent("web", true, "", ""); err != nil {
		t.Fatal(err)
	}
	if !s.IsPersistent("web") || !strings.HasPrefix(s.ServiceDir("web"), pdir) {
		t.Fatalf("after move: %s", s.ServiceDir("web"))
	}
	if _, err := os.Stat(filepath.Join(vdir, "services", "web")); !os.IsNotExist(err) {
		t.Fatal("source left behind")
	}
	got, _ := s.Load("web")
	b, _ := os.ReadFile(filepath.Join(s.ServiceDir("web"), "data", "www", "index.html"))
	k, _ := s.ReadKey("web")
	if !got.Persistent || got.Address != "addr" || got.Options["title"] != "x" || string(b) != "hi" || string(k) != "key" {
		t.Fatalf("moved record %+v, data %q, key %q", got, b, k)
	}
	if fi, _ := os.Stat(s.KeyPath("web")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v after move", fi.Mode().Perm())
	}

	// A reboot wipes the volatile root: the persistent service stays.
	os.RemoveAll(vdir)
	s, err = Open(pdir, vdir)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load("web"); got.Address != "addr" {
		t.Fatalf("after reboot: %+v", got)
	}

	// Back to amnesic, then a reboot: gone.
	if err := s.SetPersistent("web", false, "", ""); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(vdir)
	s, _ = Open(pdir, vdir)
	if got, _ := s.Load("web"); got.Address != "" {
		t.Fatalf("amnesic service survived a reboot: %+v", got)
	}
}

func TestOpenRecoversInterruptedMoves(t *testing.T) {
	pdir, vdir := t.TempDir(), t.TempDir()
	s, _ := Open(pdir, vdir)
	s.Save(&Service{Name: "web", Address: "a"})
	// Crash after the copy was renamed into the persistent root, before
	// the source was removed: both exist, the copy's record says
	// persistent.
	dst := filepath.Join(pdir, "services", "web")
	os.MkdirAll(dst, 0o700)
	os.WriteFile(filepath.Join(dst, "service.json"), []byte(`{"name":"web","persistent":true,"address":"a"}`), 0o600)
	// And a half-made copy of another move.
	os.MkdirAll(filepath.Join(pdir, "services", ".irc.moving-123"), 0o700)

	s, err := Open(pdir, vdir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(vdir, "services", "web")); !os.IsNotExist(err) {
		t.Fatal("stale source kept")
	}
	if _, err := os.Stat(filepath.Join(pdir, "services", ".irc.moving-123")); !os.IsNotExist(err) {
		t.Fatal("half-made copy kept")
	}
	if got, _ := s.Load("web"); !got.Persistent || got.Address != "a" {
		t.Fatalf("recovered %+v", got)
	}
	if err := s.Wipe("web"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load("web"); got.Address != "" {
		t.Fatal("wipe left the record")
	}
}

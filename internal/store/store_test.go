package store

import (
	"os"
	"path/filepath"
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
	s, err := Open(t.TempDir())
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
		if _, err := Open(filepath.Join(f, "state")); err == nil {
			t.Fatal("Open under a regular file succeeded")
		}
		return
	}
	d := t.TempDir()
	os.Chmod(d, 0o500)
	if _, err := Open(d); err == nil {
		t.Fatal("Open of a read-only dir succeeded")
	}
}

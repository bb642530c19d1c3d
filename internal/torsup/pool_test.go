package torsup

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPoolLaunchesFurtherTorsBesideTheFirst(t *testing.T) {
	dir := t.TempDir()
	first := New(Config{Mode: Testnet, DataDir: filepath.Join(dir, "tor"), IsolationTorrc: []string{"SocksPort 127.0.0.1:9050"}})
	p := NewPool(first, 0)
	if p.OnionsPerTor() != DefaultOnionsPerTor {
		t.Fatalf("onions per tor %d, want the default %d", p.OnionsPerTor(), DefaultOnionsPerTor)
	}
	if p.Tor(0) != first || len(p.All()) != 1 {
		t.Fatal("Tor(0) is not the first tor, or launched another")
	}
	third := p.Tor(2)
	if n := len(p.All()); n != 3 {
		t.Fatalf("Tor(2) left %d tors, want 3", n)
	}
	if got, want := third.DataDir(), filepath.Join(dir, "tor.3"); got != want {
		t.Fatalf("third tor's DataDirectory %s, want %s", got, want)
	}
	for _, l := range third.Torrc() {
		if l == "SocksPort 127.0.0.1:9050" {
			t.Fatal("a further tor carries the isolation ports, which belong to the first")
		}
	}
	if len(p.Statuses()) != 3 {
		t.Fatal("Statuses does not report every tor")
	}
}

func TestPoolSystemModeIsOneTor(t *testing.T) {
	first := New(Config{Mode: System, Control: "127.0.0.1:9051"})
	p := NewPool(first, 3)
	if p.OnionsPerTor() != 0 {
		t.Fatalf("system mode: %d onions per tor, want no limit (0)", p.OnionsPerTor())
	}
	if p.Tor(4) != first || len(p.All()) != 1 {
		t.Fatal("system mode launched a tor of its own")
	}
}

func TestPoolMovesEveryDataDir(t *testing.T) {
	dir := t.TempDir()
	first := New(Config{Mode: Testnet, DataDir: filepath.Join(dir, "a", "tor")})
	p := NewPool(first, 2)
	p.Tor(1)
	for _, s := range p.All() {
		os.MkdirAll(s.DataDir(), 0o700)
		os.WriteFile(filepath.Join(s.DataDir(), "state"), []byte(s.DataDir()), 0o600)
	}
	to := filepath.Join(dir, "b", "tor")
	os.MkdirAll(filepath.Dir(to), 0o700)
	copyTree := func(src, dst string) error {
		b, err := os.ReadFile(filepath.Join(src, "state"))
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, "state"), b, 0o600)
	}
	if err := p.MoveDataDir(to, copyTree); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{to, to + ".2"} {
		s := p.All()[i]
		if s.DataDir() != want {
			t.Fatalf("tor %d now in %s, want %s", i+1, s.DataDir(), want)
		}
		if b, err := os.ReadFile(filepath.Join(want, "state")); err != nil || string(b) != filepath.Join(dir, "a", filepath.Base(want)) {
			t.Fatalf("tor %d's state did not move: %q %v", i+1, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "a", "tor.2")); err == nil {
		t.Fatal("the second tor's old DataDirectory is still there")
	}
}

func TestSeedStateCopiesTheFirstTorsGuardsOnce(t *testing.T) {
	dir := t.TempDir()
	first, further := filepath.Join(dir, "tor"), filepath.Join(dir, "tor.2")
	seedState(first, further) // the first has no state yet: nothing to copy
	if _, err := os.Stat(filepath.Join(further, "state")); err == nil {
		t.Fatal("seeded a state the first tor does not have")
	}
	os.MkdirAll(first, 0o700)
	os.WriteFile(filepath.Join(first, "state"), []byte("Guard in=default rsa_id=AAAA\n"), 0o600)
	seedState(first, further)
	b, err := os.ReadFile(filepath.Join(further, "state"))
	if err != nil || string(b) != "Guard in=default rsa_id=AAAA\n" {
		t.Fatalf("further tor's state %q %v, want the first's guards", b, err)
	}
	if fi, _ := os.Stat(filepath.Join(further, "state")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("seeded state mode %v, want 0600", fi.Mode().Perm())
	}
	// A tor that has run keeps its own state.
	os.WriteFile(filepath.Join(further, "state"), []byte("own\n"), 0o600)
	seedState(first, further)
	if b, _ := os.ReadFile(filepath.Join(further, "state")); string(b) != "own\n" {
		t.Fatalf("seedState overwrote a further tor's own state: %q", b)
	}
}

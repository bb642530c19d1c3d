package torsup

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tails-server/internal/testenv"
)

// TestCheckerTorrc: the checker's one SOCKS port is a unix socket in its
// DataDirectory, no TCP port; it joins the first tor's network, carries no
// isolation port, and runs as the first tor's user.
func TestCheckerTorrc(t *testing.T) {
	dir := t.TempDir()
	join := []string{"TestingTorNetwork 1", "DirAuthority a orport=1 v3ident=X 127.0.0.1:2 FP"}
	first := New(Config{Mode: Testnet, JoinTorrc: join, User: TorUser, DataDir: filepath.Join(dir, "tor"),
		IsolationTorrc: []string{"SocksPort 127.0.0.1:9050"}})
	p := NewPool(first, 0)
	c := p.AddChecker(filepath.Join(dir, "checker"))
	if p.Checker() != c || len(p.All()) != 1 {
		t.Fatal("the checker is not the pool's checker, or counts as a tor carrying onions")
	}
	lines := c.Torrc()
	var socks []string
	for _, l := range lines {
		if strings.HasPrefix(l, "SocksPort") {
			socks = append(socks, l)
		}
	}
	want := "SocksPort unix:" + filepath.Join(dir, "checker", CheckerSocket) + " ExtendedErrors"
	if len(socks) != 1 || socks[0] != want {
		t.Fatalf("checker SOCKS ports %q, want only %q", socks, want)
	}
	for _, l := range append(join, "User "+TorUser) {
		if !slices.Contains(lines, l) {
			t.Fatalf("checker torrc lacks %q:\n%s", l, strings.Join(lines, "\n"))
		}
	}
	if !slices.Contains(first.Torrc(), "User "+TorUser) {
		t.Fatalf("the first tor's torrc lacks its User:\n%s", strings.Join(first.Torrc(), "\n"))
	}

	// In system mode the checker is launched too, and takes its network
	// from the system tor.
	sys := NewPool(New(Config{Mode: System, Control: "127.0.0.1:1"}), 0)
	sc := sys.AddChecker(filepath.Join(dir, "sys-checker"))
	if sc.cfg.Mode == System || sc.cfg.NetworkFrom != sys.First() {
		t.Fatalf("system mode checker: mode %s, network from %p", sc.cfg.Mode, sc.cfg.NetworkFrom)
	}
}

func TestNetworkLine(t *testing.T) {
	for _, c := range []struct {
		key, value, want string
	}{
		{"TestingTorNetwork", "1", "TestingTorNetwork 1"},
		{"TestingTorNetwork", "0", ""},
		{"UseBridges", "0", ""},
		{"UseMicrodescriptors", "auto", ""},
		{"UseMicrodescriptors", "0", "UseMicrodescriptors 0"},
		{"PathsNeededToBuildCircuits", "-1", ""},
		{"PathsNeededToBuildCircuits", "0.25", "PathsNeededToBuildCircuits 0.25"},
		{"DirAuthority", "", ""},
		{"DirAuthority", "a orport=1 127.0.0.1:2 FP", "DirAuthority a orport=1 127.0.0.1:2 FP"},
		{"Bridge", "x\nControlPort 1", ""},
	} {
		got, ok := networkLine(c.key, c.value)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("networkLine(%s, %q) = %q, %v; want %q", c.key, c.value, got, ok, c.want)
		}
	}
}

// TestCheckReachable: a state dir under a directory closed to others is
// refused up front, with the directory to open named.
func TestCheckReachable(t *testing.T) {
	testenv.RequireRoot(t, "tor's user is created")
	if err := EnsureUser(TorUser); err != nil {
		t.Fatal(err)
	}
	closed := t.TempDir() // 0700
	err := CheckReachable(TorUser, filepath.Join(closed, "state"))
	if err == nil || !strings.Contains(err.Error(), "chmod o+x "+filepath.Dir(closed)+")") {
		t.Fatalf("state dir under %s (0700): %v, want a refusal naming it", closed, err)
	}
	if err := os.Chmod(closed, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(closed), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := CheckReachable(TorUser, filepath.Join(closed, "state", "not", "yet")); err != nil {
		t.Fatalf("traversable: %v", err)
	}
}

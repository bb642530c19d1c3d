package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wantOneLineError checks the shape every user error has: exit code, one
// "error:" line naming the problem, at most one "hint:" line.
func wantOneLineError(t *testing.T, stderr string, code, wantCode int, mention string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit code %d, want %d (stderr %q)", code, wantCode, stderr)
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) < 1 || len(lines) > 2 || !strings.HasPrefix(lines[0], "tails-server: error: ") {
		t.Fatalf("stderr is not one error line (+ hint):\n%s", stderr)
	}
	if len(lines) == 2 && !strings.HasPrefix(lines[1], "tails-server: hint: ") {
		t.Fatalf("second line is not a hint:\n%s", stderr)
	}
	if !strings.Contains(stderr, mention) {
		t.Errorf("stderr does not mention %q:\n%s", mention, stderr)
	}
}

func TestBadInputWithoutDaemon(t *testing.T) {
	tmp := t.TempDir()
	notSocket := filepath.Join(tmp, "file")
	os.WriteFile(notSocket, []byte("x"), 0o600)
	torReachable(t, filepath.Join(tmp, "v4"))
	cases := []struct {
		name    string
		args    []string
		code    int
		mention string
	}{
		{"daemon not running", []string{"--socket", filepath.Join(tmp, "none.sock"), "list"}, 3, "is the daemon running"},
		{"socket is not a socket", []string{"--socket", notSocket, "info", "web"}, 3, "not a socket"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"missing service name", []string{"--socket", notSocket, "enable"}, 2, "one service name"},
		{"bad output format", []string{"-o", "xml", "list"}, 2, "output format"},
		{"state dir not writable", []string{"daemon", "--state", filepath.Join(notSocket, "state"), "--network", "public", "--socket", filepath.Join(tmp, "a.sock")}, 1, "state dir"},
		{"tor missing", []string{"daemon", "--state", filepath.Join(tmp, "s1"), "--network", "public", "--tor", filepath.Join(tmp, "no-tor"), "--socket", filepath.Join(tmp, "b.sock")}, 1, "apt-get install tor"},
		{"unknown network", []string{"daemon", "--state", filepath.Join(tmp, "s2"), "--network", "moon"}, 2, "unknown network"},
		{"testnet without dir", []string{"daemon", "--state", filepath.Join(tmp, "s3"), "--network", "testnet", "--socket", filepath.Join(tmp, "c.sock")}, 1, "--testnet-dir"},
		{"socket path is a file", []string{"daemon", "--state", filepath.Join(tmp, "s4"), "--network", "system", "--tor-control", "127.0.0.1:1", "--volatile-dir", filepath.Join(tmp, "v4"), "--socket", notSocket}, 1, "not a socket"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := cli(t, nil, c.args...)
			wantOneLineError(t, stderr, code, c.code, c.mention)
		})
	}
	if b, _ := os.ReadFile(notSocket); string(b) != "x" {
		t.Fatal("a failed command changed the file given as socket")
	}
}

func TestTorTooOld(t *testing.T) {
	tmp := t.TempDir()
	old := filepath.Join(tmp, "tor")
	// A stand-in that answers --version like a tor from 2019.
	os.WriteFile(old, []byte("#!/bin/sh\necho 'Tor version 0.3.5.8.'\n"), 0o755)
	_, stderr, code := cli(t, nil, "daemon", "--state", filepath.Join(tmp, "s"), "--network", "public", "--tor", old, "--socket", filepath.Join(tmp, "a.sock"))
	wantOneLineError(t, stderr, code, 1, "0.3.5.8")
}

func TestBadInputWithDaemon(t *testing.T) {
	requireNet(t)
	tmp := t.TempDir()
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))
	cases := []struct {
		name    string
		args    []string
		code    int
		mention string
	}{
		{"unknown service", []string{"info", "nosuch"}, 1, `unknown service "nosuch"`},
		{"unknown service enable", []string{"enable", "nosuch"}, 1, `unknown service "nosuch"`},
		{"unknown client", []string{"client", "show", "web", "nobody"}, 1, `no client "nobody"`},
		{"unknown client remove", []string{"client", "remove", "web", "nobody"}, 1, `no client "nobody"`},
		{"client name with newline", []string{"client", "add", "web", "a\nb"}, 1, "invalid client name"},
		{"client name with space", []string{"client", "add", "web", "a b"}, 1, "invalid client name"},
		{"client name too long", []string{"client", "add", "web", strings.Repeat("a", 40)}, 1, "invalid client name"},
		{"bad format", []string{"client", "show", "web", "x", "--format", "pem"}, 2, "unknown --format"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := d.cli(c.args...)
			wantOneLineError(t, stderr, code, c.code, c.mention)
		})
	}
	// Nothing was half-written: no client, web never enabled.
	if out := d.mustCLI("client", "list", "web"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("clients after refused input:\n%s", out)
	}
	// A second daemon on the same state dir is refused.
	_, stderr, code := cli(t, nil, "daemon", "--state", d.state, "--network", "testnet", "--testnet-dir", tnet.Dir, "--volatile-dir", filepath.Join(tmp, "v"), "--socket", filepath.Join(tmp, "other.sock"))
	wantOneLineError(t, stderr, code, 1, "another daemon")
}

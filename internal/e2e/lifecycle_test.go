package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/testenv"
)

// waitState waits until the service is in state want, failing the test
// with its last state and reason otherwise.
func (d *daemon) waitState(t *testing.T, name, want string, limit time.Duration) apitype.Service {
	t.Helper()
	var s apitype.Service
	waitFor(t, limit, name+" "+want, func() error {
		s = d.in(t).service(name)
		if s.State != want {
			return fmt.Errorf("state %s (%s)", s.State, s.Error)
		}
		return nil
	})
	return s
}

// TestSetOptionPersistenceRefusedRollsBack is the sequence of issue 11: the
// state dir (the persistent root) lies under /tmp, where sshd will not
// chroot, while the amnesic root is fit for it. `set-option sftp
// persistence true` on the reachable service is refused with the reason;
// the value reads back false, the files stay amnesic and sftp is
// reachable again with its old config. Setting false again is a no-op,
// and enable answers reachable, never leaving sftp "starting".
func TestSetOptionPersistenceRefusedRollsBack(t *testing.T) {
	requireNet(t)
	for _, p := range []string{"sshd", "ssh-keygen", "unshare"} {
		testenv.RequireProgram(t, p)
	}
	tmp := backendTempDir(t) // under the world-writable /tmp
	volatile := filepath.Join(sftpRootDir(t), "volatile")
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"), "--volatile-dir", volatile)

	if out := d.mustCLI("enable", "sftp", "--wait", "240s"); !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable sftp:\n%s", out)
	}
	before := d.service("sftp")
	if !strings.HasPrefix(before.Details.DataDir, volatile) || before.Details.Backend == nil {
		t.Fatalf("sftp before: data dir %s, backend %+v", before.Details.DataDir, before.Details.Backend)
	}

	_, stderr, code := d.cli("set-option", "sftp", "persistence", "true")
	wantOneLineError(t, stderr, code, 1, "chroot")
	if !strings.Contains(stderr, "the old value stays") {
		t.Errorf("the refusal does not say the old value stays: %s", stderr)
	}
	if got := strings.TrimSpace(d.mustCLI("get-option", "sftp", "persistence")); !strings.Contains(got, "value: \"false\"") && !strings.Contains(got, "value: false") {
		t.Fatalf("persistence after the refused set-option:\n%s", got)
	}
	after := d.waitState(t, "sftp", apitype.StateReachable, 240*time.Second)
	if after.Persistent || after.Details.DataDir != before.Details.DataDir {
		t.Fatalf("the refused move left sftp persistent %v, in %s (was %s)", after.Persistent, after.Details.DataDir, before.Details.DataDir)
	}
	if b := after.Details.Backend; b == nil || !b.Running {
		t.Fatalf("backend after the roll-back: %+v", b)
	}
	if _, err := os.Stat(filepath.Join(tmp, "state", "services", "sftp")); err == nil {
		t.Error("sftp's files were left in the persistent root")
	}

	// The report's next steps: setting it back answers 0, enable answers
	// reachable.
	d.mustCLI("set-option", "sftp", "persistence", "false")
	out, stderr, code := d.cli("enable", "sftp", "--wait", "240s")
	if code != 0 || !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable sftp after the refused move: exit %d\n%s%s", code, out, stderr)
	}
	if s := d.service("sftp"); s.State != apitype.StateReachable {
		t.Fatalf("sftp %s (%s)", s.State, s.Error)
	}
}

// TestEnableAfterFailedRestart: a set-option whose restart fails, and
// whose roll-back fails too (the backend cannot start at all for a
// while), leaves the service failed with the reason and the value
// unchanged; once the cause is gone, enable brings it back to reachable
// instead of leaving it "starting" with its backend listening. A service
// of the catalog dir: lighttpd with a pre-start hook that refuses to run
// while a file exists. Then a set-option repairs it the same way.
func TestEnableAfterFailedRestart(t *testing.T) {
	requireNet(t)
	testenv.RequireProgram(t, "lighttpd")
	tmp := backendTempDir(t)
	catDir := filepath.Join(tmp, "catalog.d")
	if err := os.MkdirAll(catDir, 0o755); err != nil {
		t.Fatal(err)
	}
	desc, err := os.ReadFile("../../services/lighttpd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile("../../services/lighttpd.conf.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	blocky := strings.NewReplacer("name: lighttpd", "name: blocky", "tails-server-lighttpd", "tails-server-blocky",
		"icon: lighttpd.svg\n", "").Replace(string(desc)) +
		"hooks:\n  pre_start: [sh, -c, 'if [ -e \"$1\" ]; then echo \"blocked by $1\"; exit 1; fi', sh, \"{{data}}/block\"]\n"
	os.WriteFile(filepath.Join(catDir, "blocky.yaml"), []byte(blocky), 0o644)
	os.WriteFile(filepath.Join(catDir, "lighttpd.conf.tmpl"), tmpl, 0o644)
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"), "--catalog", catDir)

	if out := d.mustCLI("enable", "blocky", "--wait", "240s"); !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable blocky:\n%s", out)
	}
	block := filepath.Join(d.service("blocky").Details.DataDir, "data", "block")
	if err := os.WriteFile(block, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := d.cli("set-option", "blocky", "document-root", "site")
	wantOneLineError(t, stderr, code, 1, "blocked by")
	if got := d.mustCLI("get-option", "blocky", "document-root"); !strings.Contains(got, "www") || strings.Contains(got, "site") {
		t.Fatalf("document-root after the failed set-option:\n%s", got)
	}
	s := d.waitState(t, "blocky", apitype.StateFailed, 60*time.Second)
	if !strings.Contains(s.Error, "blocked by") {
		t.Fatalf("failed without the reason: %q", s.Error)
	}

	if err := os.Remove(block); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := d.cli("enable", "blocky", "--wait", "120s")
	if code != 0 || !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable after the cause is gone: exit %d\n%s%s", code, out, stderr)
	}

	// Failed again; this time a set-option is the repair: an enabled
	// service that failed is tried again with the new value.
	if err := os.WriteFile(block, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = d.cli("set-option", "blocky", "document-root", "site")
	wantOneLineError(t, stderr, code, 1, "blocked by")
	d.waitState(t, "blocky", apitype.StateFailed, 60*time.Second)
	if err := os.Remove(block); err != nil {
		t.Fatal(err)
	}
	d.mustCLI("set-option", "blocky", "document-root", "site")
	if got := d.mustCLI("get-option", "blocky", "document-root"); !strings.Contains(got, "value: site") {
		t.Fatalf("document-root after the retry:\n%s", got)
	}
	d.waitState(t, "blocky", apitype.StateReachable, 240*time.Second)
}

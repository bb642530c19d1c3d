package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/client"
	"tails-server/internal/testenv"
)

// TestStateDirOfAnotherUser replays what a user who owns the state dir
// can do to the root daemon: nobody, owner of the directory given to
// --state, makes its services folder a link to a folder of nobody's
// before the daemon starts, so that root would write the services'
// records and keys where nobody can swap them. The daemon refuses to
// start, with one line naming the directory and the fix, and writes
// nothing: not in nobody's folder, not in the state dir.
func TestStateDirOfAnotherUser(t *testing.T) {
	testenv.RequireRoot(t, "the state dir is given to nobody")
	requireNet(t)
	base := backendTempDir(t)
	state, theirs := filepath.Join(base, "state"), filepath.Join(base, "nobodys")
	for _, d := range []string{state, theirs} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	plant := exec.Command("ln", "-s", theirs, filepath.Join(state, "services"))
	plant.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	if out, err := plant.CombinedOutput(); err != nil {
		t.Fatalf("nobody's link: %v %s", err, out)
	}

	var stderr bytes.Buffer
	socket := filepath.Join(base, "api.sock")
	cmd := exec.Command(bin, "daemon", "--state", state, "--volatile-dir", filepath.Join(base, "volatile"),
		"--network", "testnet", "--testnet-dir", tnet.Dir, "--socket", socket,
		"--firewall-table", firewallTable(state), "--gui-listen", "off")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	code := 0
	deadline := time.After(30 * time.Second)
wait:
	for {
		select {
		case err := <-done:
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			break wait
		case <-deadline:
			cmd.Process.Signal(syscall.SIGTERM)
			<-done
			t.Errorf("the daemon neither started nor refused within 30 s")
			break wait
		case <-time.After(500 * time.Millisecond):
			if _, err := client.New(socket).Daemon(context.Background()); err != nil {
				continue
			}
			// It started: what it writes as root lands in nobody's folder.
			t.Errorf("the daemon started on a state dir of nobody's")
			env := []string{"TAILS_SERVER_SOCKET=" + socket}
			cli(t, env, "set-option", "web", "persistence", "true")
			cli(t, env, "enable", "web")
			cmd.Process.Signal(syscall.SIGTERM)
			<-done
			break wait
		}
	}
	if entries, _ := os.ReadDir(theirs); len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("root wrote into nobody's folder: %s", strings.Join(names, ", "))
	}
	if _, err := os.Lstat(filepath.Join(state, "daemon.lock")); err == nil {
		t.Errorf("the daemon wrote its lock into the state dir it refused")
	}
	if _, err := os.Lstat(filepath.Join(base, "volatile")); err == nil {
		t.Errorf("the daemon created its volatile dir for a state dir it refused")
	}
	if !t.Failed() {
		wantOneLineError(t, stderr.String(), code, 1, "state dir "+state+": "+state+" belongs to nobody (uid 65534), who could change what the daemon trusts: chown root "+state)
	}
}

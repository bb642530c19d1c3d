//go:build debtest

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tails-server/internal/testenv"
)

// TestDebPackage builds the .deb (`make deb`'s script) and runs
// scripts/test-deb.sh on it: installed into a clean Debian 12 tree made
// with debootstrap, the group made, completion loading, the unit accepted
// by systemd-analyze, the daemon started as the unit's ExecStart= says
// (joined to the shared private network through /etc/default/tails-server)
// serving `list` to a group member and no one else, the state kept by an
// upgrade and by remove, deleted by purge. The script's steps are logged.
func TestDebPackage(t *testing.T) {
	net := requireNet(t)
	testenv.RequireRoot(t, "debootstrap, chroot and the daemon need root")
	for _, p := range []string{"debootstrap", "lintian", "systemd-analyze", "dpkg-deb", "chroot", "mount"} {
		testenv.RequireProgram(t, p)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmd := exec.Command(filepath.Join(root, "scripts", "test-deb.sh"))
	cmd.Dir = root
	cmd.Env = append(withoutEnv(os.Environ(), "TAILS_SERVER_SOCKET"), "TAILS_TESTNET_DIR="+net.Dir)
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		t.Log(line)
	}
	if err != nil {
		t.Fatalf("scripts/test-deb.sh: %v", err)
	}
	t.Logf("package test took %s", time.Since(start).Round(time.Second))
}

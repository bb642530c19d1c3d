package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSettings: vanguards are reported on, and persist-tor-state moves the
// daemon's tor state (its guards) to the persistent root and back, tor
// restarting from there with the service reachable again.
func TestSettings(t *testing.T) {
	requireNet(t)
	tmp := t.TempDir()
	state := filepath.Join(tmp, "state")
	d := startDaemon(t, state, filepath.Join(tmp, "api.sock"))
	d.mustCLI("enable", "web", "--wait", "150s")
	out := d.mustCLI("settings")
	if !strings.Contains(out, "persist_tor_state: false") || !strings.Contains(out, "vanguards: vanguards-lite on") ||
		!strings.Contains(out, "entry guards") {
		t.Fatalf("settings:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(state+"-volatile", "tor", "state")); err != nil {
		t.Fatalf("amnesic tor state not in the volatile root: %v", err)
	}
	pid := d.status().Tor.PID
	out, stderr, code := d.cli("settings", "set", "persist-tor-state", "true")
	if code != 0 || !strings.Contains(out, "persist_tor_state: true") || !strings.Contains(out, filepath.Join(state, "tor")) {
		t.Fatalf("settings set: exit %d\n%s%s", code, out, stderr)
	}
	// It says that tor restarts, and what that costs.
	if !strings.Contains(stderr, "tails-server: note: the daemon's tor restarts") || !strings.Contains(stderr, "connections open to the services drop") {
		t.Fatalf("settings set says nothing of tor's restart: %q", stderr)
	}
	if _, err := os.Stat(filepath.Join(state, "tor", "state")); err != nil {
		t.Fatalf("tor state (guards) not moved to the persistent root: %v", err)
	}
	waitFor(t, 300*time.Second, "tor restarted and web reachable", func() error {
		st := d.status().Tor
		if st.PID == pid || st.State != "ready" {
			return fmt.Errorf("tor %s pid %d", st.State, st.PID)
		}
		if s := d.service("web"); !s.Reachable {
			return fmt.Errorf("web %s", s.State)
		}
		return nil
	})
	// Setting the same value again restarts nothing, and says nothing.
	if _, stderr, code := d.cli("settings", "set", "persist-tor-state", "true"); code != 0 || strings.Contains(stderr, "restarts") {
		t.Fatalf("settings set to the same value: exit %d, %q", code, stderr)
	}
	_, stderr, code = d.cli("settings", "set", "persist-tor-state", "maybe")
	wantOneLineError(t, stderr, code, 1, "true or false")
	_, stderr, code = d.cli("settings", "set", "nosuch", "1")
	wantOneLineError(t, stderr, code, 1, "no setting")
}

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/tor"
)

// TestSelfCheckRepairs cuts the daemon's tor off the network behind the
// daemon's back: the periodic self-check must report the service
// unreachable in `status`, re-publish it, and find it reachable again once
// the network is back, with no user action.
func TestSelfCheckRepairs(t *testing.T) {
	requireNet(t)
	tmp := t.TempDir()
	state := filepath.Join(tmp, "state")
	d := startDaemon(t, state, filepath.Join(tmp, "api.sock"), "--check-interval", "3s")
	d.mustCLI("enable", "web", "--wait", "150s")

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ctl := daemonTorControl(t, ctx, state)
	if err := ctl.SetConf(ctx, tor.KeyValue{Key: "DisableNetwork", Value: "1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, "status reports the failure", func() error {
		out := d.mustCLI("status", "web")
		if !strings.Contains(out, "state: "+apitype.StateFailing) && !strings.Contains(out, "ok: false") {
			return fmt.Errorf("status:\n%s", out)
		}
		if !strings.Contains(out, "reachable: false") {
			return fmt.Errorf("status:\n%s", out)
		}
		return nil
	})
	// Three failed checks in a row: through the checker tor each one
	// waits out the check's 60 s timeout (the hosting tor is offline, the
	// rendezvous never completes).
	waitFor(t, 240*time.Second, "re-published", func() error {
		if n := d.service("web").Details.Republished; n < 1 {
			return fmt.Errorf("republished %d times", n)
		}
		return nil
	})
	if err := ctl.SetConf(ctx, tor.KeyValue{Key: "DisableNetwork", Value: "0"}); err != nil {
		t.Fatal(err)
	}
	// The hosting tor builds new introduction points and uploads a new
	// descriptor; a check that still tried the old ones waits out its
	// timeout before the checker fetches the new descriptor.
	waitFor(t, 300*time.Second, "reachable again", func() error {
		if s := d.service("web"); !s.Reachable {
			return fmt.Errorf("state %s: %s", s.State, s.Error)
		}
		return nil
	})
}

// daemonTorControl is a control connection to the daemon's own tor: the
// test, as root, reaches it through its control port file and cookie, as
// an administrator could. It is closed when the test ends.
func daemonTorControl(t *testing.T, ctx context.Context, state string) *tor.Conn {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state+"-volatile", "tor", "control-port"))
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := tor.Dial(ctx, "tcp", strings.TrimPrefix(strings.TrimSpace(string(b)), "PORT="))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	if err := ctl.Authenticate(ctx, ""); err != nil {
		t.Fatal(err)
	}
	return ctl
}

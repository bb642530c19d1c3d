package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tails-server/internal/client"
	"tails-server/internal/tor"
)

// TestSystemMode attaches the daemon to a tor it did not start (as on
// Tails), publishes web on it, and checks that the daemon changed nothing of
// that tor's configuration and that its onion goes with the daemon.
func TestSystemMode(t *testing.T) {
	requireNet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sys, err := tnet.StartTor(ctx, fmt.Sprintf("system-%d", time.Now().UnixNano()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Stop()
	ctl, err := tor.Dial(ctx, "tcp", sys.ControlAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	if err := ctl.Authenticate(ctx, ""); err != nil {
		t.Fatal(err)
	}
	conf := func() string {
		info, err := ctl.GetInfo(ctx, "config-text")
		if err != nil {
			t.Fatal(err)
		}
		return info["config-text"]
	}
	before := conf()

	tmp := t.TempDir()
	socket := filepath.Join(tmp, "api.sock")
	d := &daemon{t: t, state: filepath.Join(tmp, "state"), socket: socket, log: &syncBuffer{}}
	torReachable(t, d.state)
	d.cmd = exec.Command(bin, "daemon", "--firewall-table", firewallTable(d.state), "--state", d.state, "--volatile-dir", d.state+"-volatile", "--network", "system",
		"--tor-control", sys.ControlAddr, "--socket", socket)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.stop)
	waitFor(t, 30*time.Second, "daemon API", func() error {
		_, err := client.New(socket).Daemon(context.Background())
		return err
	})
	if st := d.status(); st.Network != "system" || st.Tor.PID != 0 {
		t.Fatalf("daemon status %+v", st)
	}

	// A wait too short to publish: enable answers with the address and
	// the state reached, exit code 4, and the service stays enabled.
	out, errOut, code := d.cli("enable", "web", "--wait", "1ms")
	if code != 4 || !strings.Contains(out, "onion_address: ") || !strings.Contains(errOut, "not reachable") {
		t.Fatalf("enable --wait 1ms: exit %d\n%s%s", code, out, errOut)
	}
	waitFor(t, 150*time.Second, "web reachable on the system tor", func() error {
		if s := d.service("web"); !s.Reachable {
			return fmt.Errorf("state %s: %s", s.State, s.Error)
		}
		return nil
	})
	addr := d.service("web").OnionAddress
	onions, err := ctl.GetInfo(ctx, "onions/current")
	if err != nil {
		t.Fatal(err)
	}
	// onions/current lists only this connection's onions: the daemon's
	// are its own, and none was detached onto the system tor.
	if strings.Contains(onions["onions/current"], strings.TrimSuffix(addr, ".onion")) {
		t.Fatal("the daemon's onion shows up as ours")
	}
	detached, err := ctl.GetInfo(ctx, "onions/detached")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(detached["onions/detached"]) != "" {
		t.Fatalf("the daemon left detached onions: %q", detached["onions/detached"])
	}

	d.mustCLI("client", "add", "web", "carol")
	cred := strings.TrimSpace(d.mustCLI("client", "show", "web", "carol", "--format", "auth-private"))
	carol := newOnionClient(t, "carol", cred)
	waitFor(t, 90*time.Second, "carol fetches through the system tor's onion", func() error {
		page, err := carol.curl("http://" + addr + "/")
		if err == nil && !strings.Contains(page, welcome) {
			err = fmt.Errorf("page %q", page)
		}
		return err
	})
	if after := conf(); after != before {
		t.Fatalf("the daemon changed the system tor's configuration:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"tails-server/internal/client"
	"tails-server/internal/grater"
	"tails-server/internal/testnet"
)

// shippedProfile is the onion-grater profile the package installs as
// /etc/onion-grater.d/tails-server.yml.
const shippedProfile = "../../packaging/onion-grater/tails-server.yml"

// daemonFilter returns the shipped profile's filter serving the daemon.
func daemonFilter(t *testing.T) *grater.Filter {
	t.Helper()
	fs, err := grater.Load(shippedProfile)
	if err != nil {
		t.Fatal(err)
	}
	f, err := grater.Match(fs, "/usr/bin/tails-server", "root")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// startRelay puts a control-port relay in front of the system tor sys:
// onion-grater's part, filtering with f, or recording only (f nil).
func startRelay(t *testing.T, sys *testnet.Tor, f *grater.Filter) *grater.Relay {
	t.Helper()
	r := &grater.Relay{Upstream: sys.ControlAddr, Cookie: sys.CookiePath, Filter: f}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// systemDaemon starts a daemon in system mode attached to control.
func systemDaemon(t *testing.T, control string) *daemon {
	t.Helper()
	tmp := t.TempDir()
	socket := filepath.Join(tmp, "api.sock")
	d := &daemon{t: t, state: filepath.Join(tmp, "state"), socket: socket, log: &syncBuffer{}}
	torReachable(t, d.state)
	d.cmd = exec.Command(bin, "daemon", "--firewall-table", firewallTable(d.state), "--state", d.state, "--volatile-dir", d.state+"-volatile",
		"--network", "system", "--tor-control", control, "--socket", socket, "--gui-listen", "off", "--check-interval", "5s")
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.stop)
	waitFor(t, 30*time.Second, "daemon API", func() error {
		if d.cmd.ProcessState != nil {
			return fmt.Errorf("daemon exited: %s", d.log)
		}
		_, err := client.New(socket).Daemon(context.Background())
		return err
	})
	return d
}

// checkedSince waits for a self-check of web that passed after t0.
func (d *daemon) checkedSince(t *testing.T, t0 time.Time, what string) {
	t.Helper()
	waitFor(t, 150*time.Second, what, func() error {
		s := d.service("web")
		if s.Details == nil || s.Details.LastCheck == nil {
			return fmt.Errorf("state %s, no check yet: %s", s.State, s.Error)
		}
		if c := s.Details.LastCheck; !c.OK || !c.Time.After(t0) {
			return fmt.Errorf("state %s, last check %+v: %s", s.State, c, s.Error)
		}
		return nil
	})
}

// graterRun drives the daemon through what it does on Tails: enable web
// (published, self-check passing), add a client who fetches the page
// through the onion, remove that client (re-published, self-check passing
// again), make it public (no client authorization), disable web, show the
// settings.
func graterRun(t *testing.T, d *daemon) {
	t.Helper()
	start := time.Now()
	if out := d.mustCLI("enable", "web", "--wait", "150s"); !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable web:\n%s\nlog:\n%s", out, d.log)
	}
	addr := d.service("web").OnionAddress
	t.Logf("enable: reachable after %s", time.Since(start).Round(time.Second))

	t0 := time.Now()
	d.mustCLI("client", "add", "web", "carol")
	cred := strings.TrimSpace(d.mustCLI("client", "show", "web", "carol", "--format", "auth-private"))
	carol := newOnionClient(t, "carol", cred)
	waitFor(t, 120*time.Second, "carol fetches through the filtered control port's onion", func() error {
		page, err := carol.curl("http://" + addr + "/")
		if err == nil && !strings.Contains(page, welcome) {
			err = fmt.Errorf("page %q", page)
		}
		return err
	})
	d.checkedSince(t, t0, "a self-check after client add")
	t.Logf("client add: carol fetched after %s", time.Since(t0).Round(time.Second))

	t0 = time.Now()
	d.mustCLI("client", "remove", "web", "carol")
	d.checkedSince(t, t0, "a self-check after client remove")
	t.Logf("client remove: checked after %s", time.Since(t0).Round(time.Second))

	// Public: re-published without client authorization.
	t0 = time.Now()
	d.mustCLI("set-option", "web", "client-auth", "false")
	d.checkedSince(t, t0, "a self-check of the public onion")

	d.mustCLI("disable", "web")
	if s := d.service("web"); s.Enabled || s.Reachable {
		t.Fatalf("after disable: %+v", s)
	}
	// The settings show the system tor's vanguards (GETCONF).
	if out := d.mustCLI("settings"); !strings.Contains(out, "vanguards-lite on") {
		t.Fatalf("settings:\n%s", out)
	}
}

// redactKeys hides the key material of a recorded command line.
var redactKeys = regexp.MustCompile(`(ED25519-V3:|ClientAuthV3=|x25519:)[^ ]+`)

// TestGraterRecorded (issue 14, 4a): every command line the daemon sends
// the system tor in system mode, recorded by a relay that passes them all,
// is one the shipped onion-grater profile allows.
func TestGraterRecorded(t *testing.T) {
	requireNet(t)
	f := daemonFilter(t)
	sys := systemTor(t, "grater-rec")
	relay := startRelay(t, sys, nil)
	d := systemDaemon(t, relay.Addr())
	graterRun(t, d)
	d.stop()
	lines := relay.Lines()
	seen := map[string]bool{}
	for _, l := range lines {
		cmd, _, _ := grater.Split(l)
		seen[cmd] = true
		if ok, why := f.Allows(l); !ok {
			t.Errorf("the profile refuses %q: %s", redactKeys.ReplaceAllString(l, "$1<key>"), why)
		}
	}
	for _, cmd := range []string{"GETINFO", "SETEVENTS", "ADD_ONION", "DEL_ONION"} {
		if !seen[cmd] {
			t.Errorf("the daemon never sent %s: the run did not do what it should", cmd)
		}
	}
	if t.Failed() || os.Getenv("GRATER_LINES") != "" {
		for _, l := range lines {
			t.Logf("sent: %s", redactKeys.ReplaceAllString(l, "$1<key>"))
		}
	}
	t.Logf("%d command lines recorded, none refused by the profile", len(lines))
}

// TestGraterFiltered (issue 14, 4b): attached to the system tor through a
// relay that refuses, as onion-grater does, whatever the shipped profile
// does not allow, the daemon enables, adds and removes a client, passes
// its self-checks and disables; the relay refused nothing.
func TestGraterFiltered(t *testing.T) {
	requireNet(t)
	sys := systemTor(t, "grater-filter")
	relay := startRelay(t, sys, daemonFilter(t))
	d := systemDaemon(t, relay.Addr())
	graterRun(t, d)
	if r := relay.Refused(); len(r) > 0 {
		t.Fatalf("the filter refused %q", r)
	}
	if strings.Contains(d.log.String(), "control port filter refused") {
		t.Fatalf("the daemon says a command was refused:\n%s", d.log)
	}
}

// TestGraterRefuses (issue 14, 4c): behind a filter whose profile lacks
// ADD_ONION (an older or missing tails-server.yml), enabling a service
// fails with one line naming the profile to install (the CLI's error, the
// service's error, one line of the daemon's log); the daemon goes on
// serving its API.
func TestGraterRefuses(t *testing.T) {
	requireNet(t)
	fs, err := grater.Parse([]byte(`
- apparmor-profiles: ['/usr/bin/tails-server']
  users: ['root']
  commands:
    GETINFO: ['version net/listeners/socks', 'net/listeners/socks', 'status/bootstrap-phase', 'process/uid']
  events:
    STATUS_CLIENT:
`))
	if err != nil {
		t.Fatal(err)
	}
	sys := systemTor(t, "grater-refuse")
	relay := startRelay(t, sys, fs[0])
	d := systemDaemon(t, relay.Addr())
	out, errOut, code := d.cli("enable", "web", "--wait", "60s")
	if code == 0 {
		t.Fatalf("enable behind a filter refusing ADD_ONION: exit 0\n%s", out)
	}
	s := d.service("web")
	const profile = "/etc/onion-grater.d/tails-server.yml"
	if !strings.Contains(s.Error, "refused ADD_ONION") || !strings.Contains(s.Error, profile) || strings.Contains(s.Error, "\n") {
		t.Fatalf("service error %q (enable: exit %d\n%s%s)", s.Error, code, out, errOut)
	}
	if !strings.Contains(errOut, "tails-server: error: web failed: ") || !strings.Contains(errOut, profile) {
		t.Fatalf("enable said:\n%s", errOut)
	}
	var said []string
	for _, l := range strings.Split(d.log.String(), "\n") {
		if strings.Contains(l, "control port filter refused ADD_ONION") {
			said = append(said, l)
		}
	}
	if len(said) != 1 || !strings.Contains(said[0], profile) {
		t.Fatalf("log lines on the refusal %q\nlog:\n%s", said, d.log)
	}
	// Still running: it answers, and lists the service.
	if out := d.mustCLI("list"); !strings.Contains(out, "web") {
		t.Fatalf("list:\n%s", out)
	}
	if d.cmd.ProcessState != nil {
		t.Fatal("the daemon exited")
	}
	t.Logf("enable: exit %d, service error: %s\nenable said: %s", code, s.Error, errOut)
	t.Logf("daemon: %s", said[0])
}

// systemTor starts a tor of the private network that plays the system's.
func systemTor(t *testing.T, name string) *testnet.Tor {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sys, err := tnet.StartTor(ctx, fmt.Sprintf("%s-%d", name, time.Now().UnixNano()), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Stop() })
	return sys
}

// TestGraterRefusesAll (issue 14, bad input): a control port that refuses
// everything (no profile serves the daemon): the daemon's status (tor's,
// in the API and the GUI) says in one line what to install, and the
// daemon keeps serving and retrying.
func TestGraterRefusesAll(t *testing.T) {
	requireNet(t)
	fs, err := grater.Parse([]byte("- {apparmor-profiles: ['/usr/bin/other'], users: ['root']}\n"))
	if err != nil {
		t.Fatal(err)
	}
	sys := systemTor(t, "grater-none")
	relay := startRelay(t, sys, fs[0])
	d := systemDaemon(t, relay.Addr())
	const profile = "/etc/onion-grater.d/tails-server.yml"
	waitFor(t, 30*time.Second, "tor's status names the profile", func() error {
		if st := d.status().Tor; st.State != "down" || !strings.Contains(st.Summary, profile) || strings.Contains(st.Summary, "\n") {
			return fmt.Errorf("tor status %+v", st)
		}
		return nil
	})
	if out := d.mustCLI("list"); !strings.Contains(out, "web") {
		t.Fatalf("list:\n%s", out)
	}
	waitFor(t, 30*time.Second, "a retry", func() error {
		if st := d.status().Tor; st.Restarts < 2 {
			return fmt.Errorf("tor status %+v", st)
		}
		return nil
	})
	if d.cmd.ProcessState != nil {
		t.Fatal("the daemon exited")
	}
	t.Logf("tor: %s", d.status().Tor.Summary)
}

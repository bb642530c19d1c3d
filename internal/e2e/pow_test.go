package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"tails-server/internal/socks"
	"tails-server/internal/tor"
)

// hostingTor is the daemon's own tor, reached as root through its
// control port file and cookie, as an administrator could.
func hostingTor(t *testing.T, state string) *tor.Conn {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state+"-volatile", "tor", "control-port"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctl, err := tor.Dial(ctx, "tcp", strings.TrimPrefix(strings.TrimSpace(string(b)), "PORT="))
	if err == nil {
		err = ctl.Authenticate(ctx, "")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	return ctl
}

// TestPoW: web published with pow on (the default) and off, on the
// daemon's real tor: status never says PoW is unsupported (tor 0.4.9 with
// its pow module), an independent client connects either way, and the
// hosting tor's rendezvous log shows the introduction going through the
// PoW priority queue only with pow on. (The descriptor's pow-params, in
// its encrypted layers, are checked by TestPoWDescriptor.)
func TestPoW(t *testing.T) {
	requireNet(t)
	tmp := t.TempDir()
	state := filepath.Join(tmp, "state")
	d := startDaemon(t, state, filepath.Join(tmp, "api.sock"))
	d.mustCLI("set-option", "web", "client-auth", "false")
	if out := d.mustCLI("get-option", "web", "pow"); !strings.Contains(out, "value: \"true\"") && !strings.Contains(out, "value: true") {
		t.Fatalf("pow is not on by default:\n%s", out)
	}
	start := time.Now()
	d.mustCLI("enable", "web", "--wait", "150s")
	t.Logf("published and reachable with pow on in %s", time.Since(start).Round(time.Millisecond))
	if out := d.mustCLI("status", "web"); strings.Contains(out, "proof-of-work: not supported") || !strings.Contains(out, "pow: \"true\"") {
		t.Fatalf("status with pow on:\n%s", out)
	}
	if strings.Contains(d.log.String(), "proof-of-work: not supported") {
		t.Fatalf("the daemon found PoW unsupported on tor with the pow module:\n%s", d.log)
	}
	ctl := hostingTor(t, state)
	torDir := filepath.Join(state+"-volatile", "tor")
	logFile := filepath.Join(torDir, "rend-debug.log") // where tor may write
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ctl.SetConf(ctx, tor.KeyValue{Key: "Log", Value: "notice file " + filepath.Join(torDir, "notice.log")},
		tor.KeyValue{Key: "Log", Value: "[rend]debug file " + logFile}); err != nil {
		t.Fatal(err)
	}
	addr := d.service("web").OnionAddress
	visitor := newOnionClient(t, "visitor")
	fetch := func() error {
		page, err := visitor.curl("http://" + addr + "/")
		if err == nil && !strings.Contains(page, welcome) {
			err = fmt.Errorf("unexpected page %q", page)
		}
		return err
	}
	waitFor(t, 120*time.Second, "an independent client fetches the page with pow on", fetch)
	// tor 0.4.9 at info level: "hs_circ_handle_introduce2(): Adding
	// introduction request to pqueue with effort: 0", only for a service
	// with PoW defenses (the others handle INTRODUCE2 at once).
	powLines := regexp.MustCompile(`(?m)^.*Adding introduction request to pqueue.*$`)
	b, _ := os.ReadFile(logFile)
	onLines := powLines.FindAllString(string(b), -1)
	t.Logf("pow on: %d rendezvous log lines of the PoW queue", len(onLines))
	if len(onLines) > 0 {
		t.Logf("the first: %s", onLines[0])
	}

	d.mustCLI("set-option", "web", "pow", "false")
	if out := d.mustCLI("status", "web"); !strings.Contains(out, "pow: \"false\"") {
		t.Fatalf("status with pow off:\n%s", out)
	}
	os.Truncate(logFile, 0)
	visitor.forget(t)
	waitFor(t, 120*time.Second, "an independent client fetches the page with pow off", fetch)
	b, _ = os.ReadFile(logFile)
	offLines := powLines.FindAllString(string(b), -1)
	t.Logf("pow off: %d rendezvous log lines of the PoW queue", len(offLines))
	if len(onLines) == 0 || len(offLines) >= len(onLines) {
		t.Errorf("the hosting tor's log shows the PoW queue %d times with pow on, %d with it off", len(onLines), len(offLines))
	}
}

// TestMaxStreams: with max-streams 2 on web, a visitor whose third stream
// goes over the same circuit (same SOCKS credentials: same isolation) has
// the circuit closed; another visitor is still served.
func TestMaxStreams(t *testing.T) {
	requireNet(t)
	tmp := t.TempDir()
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))
	d.mustCLI("set-option", "web", "client-auth", "false")
	if _, stderr, code := d.cli("set-option", "web", "max-streams", "70000"); code == 0 || !strings.Contains(stderr, "70000 is above the maximum 65535") {
		t.Fatalf("max-streams 70000: exit %d, %s", code, stderr)
	}
	d.mustCLI("set-option", "web", "max-streams", "2")
	d.mustCLI("enable", "web", "--wait", "150s")
	addr := d.service("web").OnionAddress
	visitor := newOnionClient(t, "visitor")
	waitFor(t, 120*time.Second, "a first fetch", func() error { _, err := visitor.curl("http://" + addr + "/"); return err })

	same := &socks.Auth{Username: "one", Password: "circuit"}
	dial := func() (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		return socks.Dial(ctx, visitor.tor.SocksAddr, addr+":80", same)
	}
	var open []net.Conn
	for i := 1; i <= 2; i++ {
		c, err := dial()
		if err != nil {
			t.Fatalf("stream %d of 2: %v", i, err)
		}
		defer c.Close()
		open = append(open, c)
	}
	// Two streams are within the limit: the first stays open.
	open[0].SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := open[0].Read(make([]byte, 1)); !os.IsTimeout(err) {
		t.Fatalf("the first stream ended before a third was opened: %v", err)
	}
	open[0].SetReadDeadline(time.Time{})
	third, err := dial()
	if err == nil {
		defer third.Close()
	}
	// The circuit is closed: the first stream ends, without a byte sent.
	closed := make(chan error, 1)
	go func() { _, err := open[0].Read(make([]byte, 1)); closed <- err }()
	select {
	case rerr := <-closed:
		t.Logf("third stream: %v; the first stream ended: %v", err, rerr)
	case <-time.After(30 * time.Second):
		t.Fatal("the circuit stayed open after a third stream")
	}
	other := newOnionClient(t, "other")
	waitFor(t, 120*time.Second, "another visitor fetches the page", func() error {
		page, err := other.curl("http://" + addr + "/")
		if err == nil && !strings.Contains(page, welcome) {
			err = fmt.Errorf("unexpected page %q", page)
		}
		return err
	})
}

// TestPoWNotSupported: a tor whose --list-modules lacks pow (Debian's
// tor behind a wrapper that says "pow: no", the rest of its runs
// unchanged) gets the service published without PoW, and status says
// why; an independent client still connects.
func TestPoWNotSupported(t *testing.T) {
	requireNet(t)
	tmp := t.TempDir()
	torPath, err := exec.LookPath("tor")
	if err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(tmp, "tor-without-pow")
	script := "#!/bin/sh\nif [ \"$1\" = --list-modules ]; then printf 'relay: yes\\ndirauth: yes\\ndircache: yes\\npow: no\\n'; exit 0; fi\nexec " + torPath + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"), "--tor", wrapper)
	d.mustCLI("set-option", "web", "client-auth", "false")
	d.mustCLI("enable", "web", "--wait", "150s")
	const want = "proof-of-work: not supported by this tor (this tor was built without its pow module)"
	for _, verb := range []string{"status", "info"} {
		if out := d.mustCLI(verb, "web"); !strings.Contains(out, want) {
			t.Errorf("%s web does not say %q:\n%s", verb, want, out)
		}
	}
	visitor := newOnionClient(t, "visitor")
	addr := d.service("web").OnionAddress
	waitFor(t, 120*time.Second, "an independent client fetches the page", func() error {
		_, err := visitor.curl("http://" + addr + "/")
		return err
	})
}

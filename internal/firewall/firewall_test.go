package firewall

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"tails-server/internal/testenv"
)

func TestRulesetRefusesBadInput(t *testing.T) {
	cases := []Rule{
		{Service: "web", Port: 0},
		{Service: "web", Port: 70000},
		{Service: "we\"b; flush ruleset", Port: 80},
		{Service: "web\n", Port: 80},
		{Service: "web", Port: 80, AllowLocalhost: false},
		{Service: "web", Port: 80, AllowLocalhost: false, TrustedUIDs: []int{-1}},
	}
	for _, r := range cases {
		if rs, err := Ruleset([]Rule{r}); err == nil {
			t.Errorf("%+v accepted:\n%s", r, rs)
		}
	}
	rs, err := Ruleset(nil)
	if err != nil || !strings.Contains(rs, "chain input") || strings.Contains(rs, "dport") {
		t.Fatalf("empty ruleset: %v\n%s", err, rs)
	}
}

func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestRulesInNetworkNamespaces applies the rules for real inside a
// namespace of our own ("host"), with a second one ("lan") linked to it
// by a veth pair, and a listener on all addresses of the host: the LAN
// reaches the port only with allow-lan; a local user other than the
// trusted one is refused with allow-localhost off.
func TestRulesInNetworkNamespaces(t *testing.T) {
	for _, p := range []string{"ip", "nft", "nc", "setpriv"} {
		testenv.RequireProgram(t, p)
	}
	testenv.RequireRoot(t, "this test creates network namespaces")
	id := os.Getpid() % 100000
	host, lan := fmt.Sprintf("tsfw-h%d", id), fmt.Sprintf("tsfw-l%d", id)
	vh, vl := fmt.Sprintf("tsh%d", id), fmt.Sprintf("tsl%d", id)
	sh(t, "ip", "netns", "add", host)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", host).Run() })
	sh(t, "ip", "netns", "add", lan)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", lan).Run() })
	sh(t, "ip", "link", "add", vh, "netns", host, "type", "veth", "peer", "name", vl, "netns", lan)
	sh(t, "ip", "-n", host, "addr", "add", "10.199.0.1/24", "dev", vh)
	sh(t, "ip", "-n", lan, "addr", "add", "10.199.0.2/24", "dev", vl)
	for _, ns := range []string{host, lan} {
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	sh(t, "ip", "-n", host, "link", "set", vh, "up")
	sh(t, "ip", "-n", lan, "link", "set", vl, "up")

	const port = "18080"
	listener := exec.Command("ip", "netns", "exec", host, "nc", "-lk", port)
	if err := listener.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Process.Kill(); listener.Wait() })

	reach := func(args ...string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec"}, args...)...).Run() == nil
	}
	fromLAN := func() bool { return reach(lan, "nc", "-z", "-w", "2", "10.199.0.1", port) }
	asUser := func(uid int) bool {
		u := fmt.Sprint(uid)
		return reach(host, "setpriv", "--reuid="+u, "--regid="+u, "--clear-groups", "nc", "-z", "-w", "2", "127.0.0.1", port)
	}
	// Wait for the listener; without rules everyone reaches it, which
	// shows the test can see a refusal.
	deadline := time.Now().Add(5 * time.Second)
	for !fromLAN() {
		if time.Now().After(deadline) {
			t.Fatal("listener not reachable from the LAN namespace without rules")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !asUser(65534) {
		t.Fatal("nobody cannot reach the listener without rules")
	}

	fw := &Firewall{NetNS: host}
	ctx := context.Background()
	p := 18080
	if err := fw.Apply(ctx, []Rule{{Service: "web", Port: p, AllowLocalhost: true}}); err != nil {
		t.Fatal(err)
	}
	if fromLAN() {
		t.Error("allow-lan off: reachable from the LAN")
	}
	if !asUser(65534) {
		t.Error("allow-localhost on: a local user is refused")
	}

	if err := fw.Apply(ctx, []Rule{{Service: "web", Port: p, AllowLAN: true, TrustedUIDs: []int{0}}}); err != nil {
		t.Fatal(err)
	}
	if !fromLAN() {
		t.Error("allow-lan on: not reachable from the LAN")
	}
	if asUser(65534) {
		t.Error("allow-localhost off: user nobody reaches the port")
	}
	if !asUser(0) {
		t.Error("allow-localhost off: the trusted uid is refused")
	}
	list, err := fw.List(ctx)
	if err != nil || !strings.Contains(list, `comment "web"`) {
		t.Fatalf("list: %v\n%s", err, list)
	}

	if err := fw.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fw.Remove(ctx); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := fw.List(ctx); err == nil {
		t.Error("table still there after Remove")
	}
	if !asUser(65534) {
		t.Error("after Remove: user nobody still refused")
	}
}

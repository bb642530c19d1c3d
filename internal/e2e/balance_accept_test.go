//go:build balance

package e2e

// The Onionbalance acceptance and its figures, `make balance`
// (scripts/balance.sh): on a private network of its own with a 20-second
// voting interval (Onionbalance's --is-testnet timings), three daemons
// serve web (client auth off, each a page naming it) as instances of a
// master created on a fourth. Not part of `make test`: it takes minutes.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/testenv"
)

var fetchSeq atomic.Int64

// fetchFresh fetches url on a fresh circuit: SOCKS credentials of its own
// (tor's IsolateSOCKSAuth), after a NEWNYM that drops the cached
// descriptors.
func (c *onionClient) fetchFresh(t *testing.T, url string, newnym bool) (string, error) {
	t.Helper()
	if newnym {
		c.forget(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	n := fetchSeq.Add(1)
	cmd := exec.CommandContext(ctx, "curl", "-sS", "--fail", "--max-time", "40",
		"--proxy-user", fmt.Sprintf("fetch%d:x", n), "--socks5-hostname", c.tor.SocksAddr, url)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("curl %s: %v: %s", url, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

var reInstance = regexp.MustCompile(`instance-([0-9]+)`)

type instance struct {
	n     int
	state string
	sock  string
	d     *daemon
	addr  string // with .onion
}

func startInstance(t *testing.T, in *instance) {
	t.Helper()
	in.d = startDaemon(t, in.state, in.sock)
}

func balanceStatus(t *testing.T, d *daemon, name string) apitype.BalanceStatus {
	t.Helper()
	var st apitype.BalanceStatus
	out, errOut, code := d.cli("-o", "json", "balance", "status", name)
	if code != 0 {
		t.Logf("balance status: %s", errOut)
		return st
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func memberState(st apitype.BalanceStatus, addr string) string {
	for _, m := range st.Members {
		if m.Address == addr {
			return m.State
		}
	}
	return ""
}

func TestBalanceAcceptance(t *testing.T) {
	env := requireNet(t)
	testenv.RequireProgram(t, "onionbalance")
	if env.VotingInterval != 20 {
		t.Fatalf("the network in %s votes every %d s: run it with `testnet up --voting-interval 20s` (make balance does)", env.Dir, env.VotingInterval)
	}
	rounds := 5
	if v, err := strconv.Atoi(os.Getenv("BALANCE_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	tmp := backendTempDir(t)
	front := startDaemon(t, filepath.Join(tmp, "front"), filepath.Join(tmp, "front.sock"))
	ins := make([]*instance, 3)
	for i := range ins {
		in := &instance{n: i + 1, state: filepath.Join(tmp, fmt.Sprintf("inst%d", i+1)), sock: filepath.Join(tmp, fmt.Sprintf("inst%d.sock", i+1))}
		ins[i] = in
		startInstance(t, in)
		site := filepath.Join(tmp, fmt.Sprintf("site%d", in.n))
		os.MkdirAll(site, 0o755)
		os.WriteFile(filepath.Join(site, "index.html"), []byte(fmt.Sprintf("<h1>instance-%d</h1>\n", in.n)), 0o644)
		in.d.mustCLI("set-option", "web", "client-auth", "off")
		in.d.mustCLI("set-option", "web", "autostart", "on")
		in.d.mustCLI("files", "add", "web", site+"/")
	}
	client := newOnionClient(t, "balance-accept")

	// The reference: one plain service's publication, in the same run.
	front.mustCLI("set-option", "web", "client-auth", "off")
	start := time.Now()
	front.mustCLI("enable", "web", "--wait", "120s")
	plainURL := "http://" + front.service("web").OnionAddress + "/"
	waitFor(t, 3*time.Minute, "the plain service", func() error { _, err := client.fetchFresh(t, plainURL, false); return err })
	plain := time.Since(start).Seconds()

	// The master's key first (its address goes into each instance's
	// balance-master), then the instances, then create + 3 add timed.
	keyFile := filepath.Join(tmp, "master.key")
	var b apitype.Balance
	if err := json.Unmarshal([]byte(front.mustCLI("-o", "json", "balance", "create", "tmp")), &b); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(front.state, "balance", "tmp", "hs_ed25519_secret_key"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(keyFile, key, 0o600)
	front.mustCLI("balance", "delete", "tmp")
	master := b.Address
	for _, in := range ins {
		in.d.mustCLI("set-option", "web", "balance-master", master)
		in.d.mustCLI("enable", "web", "--wait", "120s")
		in.addr = in.d.service("web").OnionAddress
		page, err := client.fetchFresh(t, "http://"+in.addr+"/", false)
		if err != nil || !strings.Contains(page, fmt.Sprintf("instance-%d", in.n)) {
			t.Fatalf("instance %d directly: %q %v", in.n, page, err)
		}
	}
	start = time.Now()
	front.mustCLI("balance", "create", "site", "--onion-key", keyFile)
	for _, in := range ins {
		front.mustCLI("balance", "add", "site", in.addr)
	}
	url := "http://" + master + "/"
	var first string
	waitFor(t, 5*time.Minute, "the master", func() error {
		p, err := client.fetchFresh(t, url, true)
		first = p
		return err
	})
	reachable := time.Since(start).Seconds()
	if !reInstance.MatchString(first) {
		t.Fatalf("the master's page names no instance: %q", first)
	}
	t.Logf("FIGURE master reachable after create + 3 add: %.1f s; one plain service published and fetched: %.1f s; ratio %.2f", reachable, plain, reachable/plain)

	// 20 fetches on fresh circuits: at least two instances answer.
	seen := map[string]int{}
	failed := 0
	for i := 0; i < 20; i++ {
		p, err := client.fetchFresh(t, url, true)
		if err != nil {
			failed++
			continue
		}
		if m := reInstance.FindStringSubmatch(p); m != nil {
			seen[m[1]]++
		}
	}
	t.Logf("FIGURE 20 fetches of the master: by instance %v, %d failed", seen, failed)
	if len(seen) < 2 {
		t.Fatalf("only %d instance(s) answered 20 fetches: %v", len(seen), seen)
	}
	waitFor(t, 2*time.Minute, "every instance up in balance status", func() error {
		st := balanceStatus(t, front, "site")
		for _, in := range ins {
			if s := memberState(st, in.addr); s != "up" {
				return fmt.Errorf("%s is %q: %+v", in.addr, s, st)
			}
		}
		return nil
	})

	// Failover: kill -9 of one instance's daemon and its tors; fresh
	// fetches of the master until one succeeds; status shows it missing;
	// it comes back after its daemon restarts.
	var secs []float64
	var attempts, fails int
	for r := 0; r < rounds; r++ {
		in := ins[r%len(ins)]
		st := in.d.status()
		pids := []int{st.Tor.PID}
		if st.Checker != nil {
			pids = append(pids, st.Checker.PID)
		}
		kill := time.Now()
		in.d.cmd.Process.Kill()
		for _, p := range pids {
			if p > 0 {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
		in.d.cmd.Wait()
		var got float64
		for deadline := kill.Add(5 * time.Minute); ; {
			attempts++
			p, err := client.fetchFresh(t, url, true)
			if err == nil && reInstance.MatchString(p) {
				got = time.Since(kill).Seconds()
				break
			}
			fails++
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the master does not answer within 5 minutes of the kill: %v", r+1, err)
			}
		}
		secs = append(secs, got)
		t.Logf("round %d: instance %d killed, the master answered a fresh client after %.1f s", r+1, in.n, got)
		waitFor(t, 3*time.Minute, "the killed instance missing in balance status", func() error {
			if s := memberState(balanceStatus(t, front, "site"), in.addr); s != "missing" {
				return fmt.Errorf("state %q", s)
			}
			return nil
		})
		startInstance(t, in)
		waitFor(t, 4*time.Minute, "the instance back in balance status", func() error {
			if s := memberState(balanceStatus(t, front, "site"), in.addr); s != "up" {
				return fmt.Errorf("state %q", s)
			}
			return nil
		})
	}
	t.Logf("FIGURE failover: median %.1f s over %d rounds (%v); %d of %d fetches failed meanwhile (%.0f%%)",
		median(secs), len(secs), secs, fails, attempts, 100*float64(fails)/float64(attempts))
}

package e2e

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/onionkey"
)

// killRounds is RELIABILITY_ROUNDS, or def when it is not set.
func killRounds(t *testing.T, def int) int {
	t.Helper()
	v := os.Getenv("RELIABILITY_ROUNDS")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("RELIABILITY_ROUNDS=%q: want a number of rounds, 1 or more", v)
	}
	return n
}

// killOps are the operations a kill -9 interrupts, by name.
var killOps = map[string][]string{
	"tor":     {"enable", "disable", "set-option", "persistence", "client-add", "client-remove", "upload"},
	"checker": {"enable", "disable", "set-option", "persistence", "client-add", "client-remove"},
	"backend": {"enable", "disable", "set-option", "persistence", "client-add", "client-remove"},
	// The daemon's kills during enable, set-option and client add and
	// remove are TestKillDuringEnableAndSetOption's.
	"daemon": {"disable", "persistence", "upload"},
}

// TestKillTorsAndBackends kills with SIGKILL the daemon's first tor, its
// checker tor, lighttpd's backend and the daemon itself at a random
// moment of enable, disable, set-option (persistence too), client add and
// remove and an upload to fileshare in receive mode, RELIABILITY_ROUNDS
// rounds per kind (1 unless set). After each round the daemon runs (the
// killed daemon is started again), the records parse, an enabled service
// is reachable through an independent client tor with the address and the
// credential it had, the options hold one of their two values and no
// unfinished upload is left in the received folder.
func TestKillTorsAndBackends(t *testing.T) {
	requireNet(t)
	rounds := killRounds(t, 1)
	for _, kind := range []string{"tor", "checker", "backend", "daemon"} {
		t.Run(kind, func(t *testing.T) {
			k := newKillBench(t, kind)
			ops := killOps[kind]
			first := mrand.IntN(len(ops))
			for i := range rounds {
				op := ops[(first+i)%len(ops)]
				t.Run(fmt.Sprintf("%d-%s", i, op), func(t *testing.T) { k.round(t, op) })
			}
		})
	}
}

// killBench is one daemon with lighttpd (and fileshare in receive mode
// when uploads are interrupted) enabled, and a client tor holding ann's
// credentials for them.
type killBench struct {
	t             *testing.T
	kind          string
	d             *daemon
	state, socket string
	addr, faddr   string // lighttpd's and fileshare's onion addresses
	client        *onionClient
	docRoot       string // the last document-root set
	persistent    string // the last persistence set
}

func newKillBench(t *testing.T, kind string) *killBench {
	tmp := backendTempDir(t)
	k := &killBench{t: t, kind: kind, state: filepath.Join(tmp, "state"), socket: filepath.Join(tmp, "api.sock"),
		docRoot: "www", persistent: "false"}
	k.d = startDaemon(t, k.state, k.socket)
	k.d.mustCLI("enable", "lighttpd", "--wait", "150s")
	k.d.mustCLI("client", "add", "lighttpd", "ann")
	k.addr = k.d.service("lighttpd").OnionAddress
	creds := []string{k.cred("lighttpd", "ann")}
	if upload(kind) {
		k.d.mustCLI("enable", "fileshare", "--wait", "150s")
		k.d.mustCLI("set-option", "fileshare", "mode", "receive")
		k.d.mustCLI("client", "add", "fileshare", "ann")
		k.faddr = k.d.service("fileshare").OnionAddress
		creds = append(creds, k.cred("fileshare", "ann"))
	}
	k.client = newOnionClient(t, "kill-"+kind, creds...)
	k.reachable(t, "lighttpd", k.addr)
	if kind == "daemon" {
		// Each round starts its own daemon on the state, kills it and
		// starts the next.
		k.d.stop()
	}
	return k
}

func upload(kind string) bool {
	for _, op := range killOps[kind] {
		if op == "upload" {
			return true
		}
	}
	return false
}

// cred is a client's auth-private line, "" if it has none.
func (k *killBench) cred(service, name string) string {
	out, _, code := k.d.cli("client", "show", service, name, "--format", "auth-private")
	if code != 0 {
		return ""
	}
	return strings.TrimSpace(out)
}

// reachable waits until the service at addr answers HTTP through the
// independent client tor, with the credential it had from the start.
func (k *killBench) reachable(t *testing.T, service, addr string) {
	t.Helper()
	d := k.d.in(t)
	start := time.Now()
	defer func() { t.Logf("%s reachable after %s", service, time.Since(start).Round(time.Second)) }()
	// First the daemon's own word (its self-check passed: the onion is
	// back, the checker with it), then a client that forgot what it
	// cached of the onion's earlier run (a client's cache, nothing the
	// host controls: it kept a comeback waiting for minutes).
	waitFor(t, 240*time.Second, service+" reachable again by the daemon's self-check", func() error {
		s := d.service(service)
		if !s.Enabled {
			return fmt.Errorf("%s is not enabled (state %s)", service, s.State)
		}
		if s.OnionAddress != addr {
			t.Fatalf("%s's onion address is %s, was %s", service, s.OnionAddress, addr)
		}
		if !s.Reachable {
			return fmt.Errorf("state %s: %s", s.State, s.Error)
		}
		return nil
	})
	k.client.forget(t)
	waitFor(t, 120*time.Second, service+" reachable again through a client", func() error {
		_, err := k.client.curlRaw("http://" + addr + "/")
		return err
	})
}

// prepare puts lighttpd in the state op starts from.
func (k *killBench) prepare(t *testing.T, op string) {
	d := k.d.in(t)
	s := d.service("lighttpd")
	switch op {
	case "enable":
		if s.Enabled {
			d.mustCLI("disable", "lighttpd")
		}
	default:
		if !s.Enabled {
			d.mustCLI("enable", "lighttpd", "--wait", "150s")
		}
	}
	switch op {
	case "upload":
		k.reachable(t, "fileshare", k.faddr)
	case "client-add":
		if k.cred("lighttpd", "bob") != "" {
			d.mustCLI("client", "remove", "lighttpd", "bob")
		}
	case "client-remove":
		if k.cred("lighttpd", "bob") == "" {
			d.mustCLI("client", "add", "lighttpd", "bob")
		}
	}
}

// command is the CLI command of op (upload is curl's, not the CLI's).
func (k *killBench) command(op string) []string {
	switch op {
	case "enable":
		return []string{"enable", "lighttpd"}
	case "disable":
		return []string{"disable", "lighttpd"}
	case "set-option":
		v := map[string]string{"www": "other", "other": "www"}[k.docRoot]
		return []string{"set-option", "lighttpd", "document-root", v}
	case "persistence":
		v := map[string]string{"true": "false", "false": "true"}[k.persistent]
		return []string{"set-option", "lighttpd", "persistence", v}
	case "client-add":
		return []string{"client", "add", "lighttpd", "bob"}
	case "client-remove":
		return []string{"client", "remove", "lighttpd", "bob"}
	}
	panic(op)
}

// target is the pid of the process the bench's kind kills.
func (k *killBench) target(t *testing.T) int {
	d := k.d.in(t)
	switch k.kind {
	case "tor":
		return d.status().Tor.PID
	case "checker":
		if c := d.status().Checker; c != nil {
			return c.PID
		}
		return 0
	case "backend":
		if b := d.service("lighttpd").Details.Backend; b != nil && b.Running {
			return b.PID
		}
		return 0
	}
	return k.d.cmd.Process.Pid
}

func (k *killBench) round(t *testing.T, op string) {
	if k.kind == "daemon" {
		k.d = startDaemon(t, k.state, k.socket)
	}
	k.prepare(t, op)
	d := k.d.in(t)
	bobBefore := k.cred("lighttpd", "bob")
	// The process to kill: a backend or checker that is not running at
	// the start (lighttpd disabled) is looked up again at the kill.
	pid := k.target(t)
	done := make(chan string, 1)
	var delay time.Duration
	var sent []byte
	upName := fmt.Sprintf("up-%d.bin", time.Now().UnixNano())
	if op == "upload" {
		// Slow enough (8 MiB at 1 MiB/s) to be cut mid-way.
		sent = make([]byte, 8<<20)
		rand.Read(sent)
		f := filepath.Join(t.TempDir(), upName)
		os.WriteFile(f, sent, 0o600)
		go func() {
			res, err := k.client.curlRaw("--limit-rate", "1M", "-F", "file=@"+f, "http://"+k.faddr+"/upload")
			done <- fmt.Sprintf("HTTP %d %v", res.code, err)
		}()
		delay = time.Duration(300+mrand.IntN(3000)) * time.Millisecond
	} else {
		args := k.command(op)
		go func() {
			out, errOut, code := d.cli(args...)
			done <- fmt.Sprintf("exit %d %s%s", code, strings.TrimSpace(out), strings.TrimSpace(errOut))
		}()
		delay = time.Duration(mrand.IntN(400)) * time.Millisecond
	}
	time.Sleep(delay)
	var result string
	select {
	case result = <-done:
		t.Logf("%s ended before the kill: %.300s", op, result)
	default:
	}
	if pid == 0 || syscall.Kill(pid, 0) != nil {
		pid = k.target(t)
	}
	if pid == 0 {
		t.Logf("kill -9 of the %s during %s: nothing to kill after %s", k.kind, op, delay)
	} else {
		err := syscall.Kill(pid, syscall.SIGKILL)
		t.Logf("kill -9 of the %s (pid %d) during %s after %s: %v", k.kind, pid, op, delay, err)
	}
	if k.kind == "daemon" {
		k.d.cmd.Wait()
		k.checkRecords(t)
		k.d = startDaemon(t, k.state, k.socket)
		d = k.d.in(t)
	}
	if result == "" {
		select {
		case r := <-done:
			t.Logf("%s, cut by the kill: %.300s", op, r)
		case <-time.After(5 * time.Minute):
			t.Fatalf("%s did not end within 5 minutes of the kill", op)
		}
	}
	if d.cmd.ProcessState != nil {
		t.Fatalf("the daemon exited after the kill of its %s:\n%s", k.kind, d.log)
	}
	k.checkRecords(t)

	s := d.service("lighttpd")
	switch {
	case s.Enabled:
		k.reachable(t, "lighttpd", k.addr)
	case op != "enable" && op != "disable":
		t.Fatalf("lighttpd enabled before %s, disabled after the kill (state %s)", op, s.State)
	}
	for _, o := range d.service("lighttpd").Options {
		switch o.Name {
		case "document-root":
			if o.Value != "www" && o.Value != "other" {
				t.Fatalf("document-root %q after the kill", o.Value)
			}
			k.docRoot = o.Value
		case "persistence":
			if o.Value != "true" && o.Value != "false" {
				t.Fatalf("persistence %q after the kill", o.Value)
			}
			k.persistent = o.Value
		}
	}
	if p := d.service("lighttpd").Persistent; strconv.FormatBool(p) != k.persistent {
		t.Fatalf("persistence option %s, but the service's files persistent: %v", k.persistent, p)
	}
	if got := k.cred("lighttpd", "bob"); got != "" && !authPrivateLine.MatchString(got) {
		t.Fatalf("client bob's credential %q does not parse", got)
	} else if got != "" && bobBefore != "" && got != bobBefore {
		t.Fatal("client bob's credential changed across the kill")
	}
	if k.faddr != "" {
		k.reachable(t, "fileshare", k.faddr)
		k.checkReceived(t, upName, sent)
	}
}

// checkReceived checks that the received folder holds no unfinished
// upload: no .part file (once the daemon noticed the cut connection) and
// the uploaded file whole or not at all.
func (k *killBench) checkReceived(t *testing.T, name string, sent []byte) {
	dir := filepath.Join(k.d.in(t).service("fileshare").Details.DataDir, "data", "received")
	waitFor(t, 120*time.Second, "no unfinished upload in the received folder", func() error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".part") {
				return fmt.Errorf("%s left", e.Name())
			}
		}
		return nil
	})
	if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil && len(b) != len(sent) {
		t.Fatalf("received %s has %d bytes of the %d sent", name, len(b), len(sent))
	}
	page, err := k.client.curlRaw("http://" + k.faddr + "/")
	if err != nil || strings.Contains(string(page.body), ".part") {
		t.Fatalf("receive page after the kill: %v %.300s", err, page.body)
	}
}

// checkRecords parses every service's record and key.
func (k *killBench) checkRecords(t *testing.T) {
	for _, root := range []string{k.state, k.state + "-volatile"} {
		dirs, _ := filepath.Glob(filepath.Join(root, "services", "*"))
		for _, dir := range dirs {
			if b, err := os.ReadFile(filepath.Join(dir, "service.json")); err == nil {
				var v map[string]any
				if err := json.Unmarshal(b, &v); err != nil {
					t.Fatalf("%s after the kill: %v\n%s", dir, err, b)
				}
			}
			if b, err := os.ReadFile(filepath.Join(dir, "hs_ed25519_secret_key")); err == nil {
				if _, err := onionkey.ParseSecretKeyFile(b); err != nil {
					t.Fatalf("%s's key after the kill: %v", dir, err)
				}
			}
		}
	}
}

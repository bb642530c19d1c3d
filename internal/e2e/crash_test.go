package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/onionkey"
)

// TestConcurrentCommandsAreSerialized runs option changes on one service
// at the same time: each ends, and the final value is one of those set,
// with the config rendered from it.
func TestConcurrentCommandsAreSerialized(t *testing.T) {
	requireNet(t)
	tmp := backendTempDir(t)
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))
	d.mustCLI("enable", "lighttpd", "--wait", "150s")
	var wg sync.WaitGroup
	values := []string{"one", "two", "three", "four"}
	codes := make([]int, len(values))
	for i, v := range values {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, codes[i] = d.cli("set-option", "lighttpd", "document-root", v)
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 0 {
			t.Errorf("set-option %s: exit %d", values[i], c)
		}
	}
	o := d.service("lighttpd")
	var final string
	for _, opt := range o.Options {
		if opt.Name == "document-root" {
			final = opt.Value
		}
	}
	conf, _ := os.ReadFile(filepath.Join(o.Details.DataDir, "config", "lighttpd.conf"))
	if !strings.Contains(string(conf), "/data/"+final+`"`) {
		t.Fatalf("option is %q but the config says:\n%s", final, conf)
	}
	if !o.Details.Backend.Running {
		t.Fatal("backend not running after concurrent changes")
	}
}

// TestKillDuringEnableAndSetOption kills the daemon with SIGKILL at random
// moments of enable, set-option, client add and client remove, restarts
// it, and checks that the state it finds is consistent: records and key
// parse, the service is either enabled and comes back reachable with the
// address it had, or disabled; the option holds one of the two values; the
// client is there with the credential it had, or not at all. It runs
// RELIABILITY_ROUNDS rounds (4 unless set; `make reliability` sets more).
func TestKillDuringEnableAndSetOption(t *testing.T) {
	requireNet(t)
	rounds := 4
	if v := os.Getenv("RELIABILITY_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("RELIABILITY_ROUNDS=%q: want a number of rounds, 1 or more", v)
		}
		rounds = n
	}
	for i := range rounds {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			tmp := backendTempDir(t)
			state, socket := filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock")
			d := startDaemon(t, state, socket)
			credential := func(d *daemon) string {
				out, _, code := d.cli("client", "show", "lighttpd", "bob", "--format", "auth-private")
				if code != 0 {
					return ""
				}
				return strings.TrimSpace(out)
			}
			var op []string
			var address, cred string
			switch i % 4 {
			case 0:
				op = []string{"enable", "lighttpd"}
			case 1:
				op = []string{"set-option", "lighttpd", "document-root", "other"}
			case 2:
				op = []string{"client", "add", "lighttpd", "bob"}
			case 3:
				op = []string{"client", "remove", "lighttpd", "bob"}
			}
			if i%4 != 0 {
				d.mustCLI("enable", "lighttpd")
				address = d.service("lighttpd").OnionAddress
			}
			if i%4 == 3 {
				d.mustCLI("client", "add", "lighttpd", "bob")
				cred = credential(d)
			}
			t.Logf("kill -9 during %s", strings.Join(op, " "))
			go d.cli(op...)
			time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond)
			d.cmd.Process.Signal(syscall.SIGKILL)
			d.cmd.Wait()

			// The files a kill may have caught mid-write parse.
			for _, root := range []string{state, state + "-volatile"} {
				dir := filepath.Join(root, "services", "lighttpd")
				if b, err := os.ReadFile(filepath.Join(dir, "service.json")); err == nil {
					var v map[string]any
					if err := json.Unmarshal(b, &v); err != nil {
						t.Fatalf("service.json after kill: %v\n%s", err, b)
					}
				}
				if b, err := os.ReadFile(filepath.Join(dir, "hs_ed25519_secret_key")); err == nil {
					if _, err := onionkey.ParseSecretKeyFile(b); err != nil {
						t.Fatalf("key after kill: %v", err)
					}
				}
			}
			// A kill may leave a write's temporary file; the start
			// removes it.
			d2 := startDaemon(t, state, socket)
			for _, root := range []string{state, state + "-volatile"} {
				entries, _ := os.ReadDir(filepath.Join(root, "services", "lighttpd"))
				for _, e := range entries {
					if strings.Contains(e.Name(), ".tmp-") {
						t.Errorf("temp file left after the daemon started: %s", e.Name())
					}
				}
			}
			s := d2.service("lighttpd")
			if s.Enabled {
				waitFor(t, 150*time.Second, "enabled service back", func() error {
					if s := d2.service("lighttpd"); !s.Reachable {
						return fmt.Errorf("state %s: %s", s.State, s.Error)
					}
					return nil
				})
				if got := d2.service("lighttpd").OnionAddress; address != "" && got != address {
					t.Fatalf("onion address %s after the kill, was %s", got, address)
				}
			} else if s.State != "disabled" {
				t.Fatalf("not enabled but state %s", s.State)
			} else if address != "" {
				t.Fatalf("enabled before %s, disabled after the kill", strings.Join(op, " "))
			}
			for _, o := range d2.service("lighttpd").Options {
				if o.Name == "document-root" && o.Value != "www" && o.Value != "other" {
					t.Fatalf("document-root %q", o.Value)
				}
			}
			if got := credential(d2); got != "" && cred != "" && got != cred {
				t.Fatalf("client bob's credential changed across the kill")
			} else if got != "" && !strings.Contains(got, ":descriptor:x25519:") {
				t.Fatalf("client bob's credential %q does not parse", got)
			}
		})
	}
}

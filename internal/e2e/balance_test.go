package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/services"
	"tails-server/internal/testenv"
)

// TestBalanceInstance is the short Onionbalance test of `make test`, on
// the shared network: balance-master is refused with client auth on (and
// client-auth with balance-master set); a web service set as an instance
// is published through its tor's configuration (a HiddenServiceDir with
// ob_config), reachable directly from an independent client tor, and
// again after a kill -9 of its tor; on the front side, balance create and
// add, and add's bad input. The long acceptance (three instances behind a
// master, failover) is `make balance` (scripts/balance.sh).
func TestBalanceInstance(t *testing.T) {
	requireNet(t)
	testenv.RequireProgram(t, "onionbalance")
	state := filepath.Join(backendTempDir(t), "state")
	d := startDaemon(t, state, filepath.Join(t.TempDir(), "api.sock"))

	var b apitype.Balance
	if err := json.Unmarshal([]byte(d.mustCLI("-o", "json", "balance", "create", "front")), &b); err != nil {
		t.Fatal(err)
	}
	master := b.Address

	// Bad input: one line, non-zero exit, nothing changed.
	refused := func(want string, args ...string) {
		t.Helper()
		out, errOut, code := d.cli(args...)
		if code == 0 || !strings.Contains(errOut, want) {
			t.Errorf("%v: exit %d, %q%q; want a refusal saying %q", args, code, out, errOut, want)
		}
		if lines := strings.Split(strings.TrimSpace(errOut), "\n"); len(lines) > 2 {
			t.Errorf("%v: %d lines of error: %q", args, len(lines), errOut)
		}
	}
	refused("Onionbalance cannot publish descriptors with client authorization: turn client-auth off first",
		"set-option", "web", "balance-master", master)
	refused("is not a v3 onion address", "set-option", "web", "balance-master", strings.Repeat("a", 56)+".onion")
	refused("not valid", "set-option", "web", "balance-master", "example.com")
	if v := d.service("web"); optionValue(v, "balance-master") != "" {
		t.Fatalf("balance-master changed by a refused set-option: %q", optionValue(v, "balance-master"))
	}
	d.mustCLI("set-option", "web", "client-auth", "off")
	d.mustCLI("set-option", "web", "balance-master", strings.ToUpper(strings.TrimSuffix(master, ".onion")))
	if v := optionValue(d.service("web"), "balance-master"); v != master {
		t.Fatalf("balance-master is %q, want %q (normalized)", v, master)
	}
	refused("client-auth cannot be on while balance-master is set", "set-option", "web", "client-auth", "on")

	d.mustCLI("enable", "web", "--wait", "120s")
	web := d.service("web")
	addr := strings.TrimSuffix(web.OnionAddress, ".onion")

	// Published through tor's configuration, as an instance of master.
	hsDir := filepath.Join(state+"-volatile", "tor", services.HSDirRoot, "web")
	ob, err := os.ReadFile(filepath.Join(hsDir, "ob_config"))
	if err != nil || string(ob) != "MasterOnionAddress "+master+"\n" {
		t.Fatalf("ob_config: %q, %v", ob, err)
	}
	for _, f := range []string{"", "hs_ed25519_secret_key"} {
		fi, err := os.Stat(filepath.Join(hsDir, f))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm()&0o077 != 0 || st.Uid == 0 && os.Getuid() == 0 {
			t.Errorf("%s: mode %v, owner %d: want closed to others and owned by tor's user", fi.Name(), fi.Mode(), st.Uid)
		}
	}
	if h, _ := os.ReadFile(filepath.Join(hsDir, "hostname")); strings.TrimSpace(string(h)) != addr+".onion" {
		t.Errorf("tor's hostname file says %q, the service %q", h, addr)
	}

	c := newOnionClient(t, "balance")
	url := "http://" + addr + ".onion/"
	waitFor(t, 90*time.Second, "web through its HiddenServiceDir", func() error {
		_, err := c.curl(url)
		return err
	})

	// kill -9 of its tor: the group is set again on the new one.
	old := d.status().Tor.PID
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "tor back", func() error {
		if st := d.status(); st.Tor.PID == old || st.Tor.State != "ready" {
			return fmt.Errorf("tor %d %s", st.Tor.PID, st.Tor.State)
		}
		return nil
	})
	c.forget(t)
	waitFor(t, 90*time.Second, "web after its tor's restart", func() error {
		_, err := c.curl(url)
		return err
	})

	// The front side: add, add twice, bad addresses.
	refused("is not a v3 onion address", "balance", "add", "front", "not-an-onion")
	refused("is not a v3 onion address", "balance", "add", "front", strings.Repeat("a", 56)+".onion")
	d.mustCLI("balance", "add", "front", addr)
	refused("is already in balance front", "balance", "add", "front", addr)
	refused("no balance", "balance", "add", "nothere", addr)
	if err := json.Unmarshal([]byte(d.mustCLI("-o", "json", "balance", "list")), new(apitype.BalanceList)); err != nil {
		t.Fatal(err)
	}
	var st apitype.BalanceStatus
	if err := json.Unmarshal([]byte(d.mustCLI("-o", "json", "balance", "status", "front")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 1 || st.Members[0].Address != addr+".onion" {
		t.Errorf("status members %+v", st.Members)
	}

	// Disable withdraws it from tor's configuration and removes its
	// directory.
	d.mustCLI("disable", "web")
	if _, err := os.Stat(hsDir); !os.IsNotExist(err) {
		t.Errorf("%s after disable: %v", hsDir, err)
	}
	d.mustCLI("balance", "delete", "front")
	if _, err := os.Stat(filepath.Join(state, "balance", "front")); !os.IsNotExist(err) {
		t.Errorf("balance dir after delete: %v", err)
	}
}

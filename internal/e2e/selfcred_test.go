package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/client"
	"tails-server/internal/isolation"
	"tails-server/internal/socks"
	"tails-server/internal/testenv"
	"tails-server/internal/tor"
)

// TestSelfCheckCredentialServesNoOtherProcess replays finding 9 of issue 12:
// the daemon's own client credential, which the self-check uses, must let
// no other local process reach a service with client authorization. As
// nobody, through every SOCKS port of every tor the daemon runs (the first
// tor's own port and the isolation policy's ports, a further tor's, the
// checker's socket), a connection to the onion is refused, while the
// self-check still finds the service reachable. It also checks that none of
// those tors runs as root.
func TestSelfCheckCredentialServesNoOtherProcess(t *testing.T) {
	requireNet(t)
	testenv.RequireRoot(t, "the attacker runs as nobody")
	tmp := t.TempDir()
	off := freeOffset(t, isolation.Default())
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"), "--gui-listen", "off",
		"--catalog", fiftyCatalog(t, 2), "--onions-per-tor", "1", "--isolation-port-offset", strconv.Itoa(off))
	var targets []string
	for i := range 2 {
		name := fmt.Sprintf("site%02d", i)
		if out := d.mustCLI("enable", name, "--wait", "150s"); !strings.Contains(out, "reachable: true") {
			t.Fatalf("enable %s:\n%s", name, out)
		}
		targets = append(targets, d.service(name).OnionAddress+":80")
	}

	tors := daemonTors(t, d.cmd.Process.Pid)
	if len(tors) < 2 {
		t.Fatalf("%d tors under the daemon, want at least 2 (two onions at one per tor)", len(tors))
	}
	var proxies []string
	plain := map[string]bool{} // SOCKS ports without ExtendedErrors
	for _, p := range tors {
		ls, pl := socksListeners(t, controlAddr(t, p.dataDir))
		proxies = append(proxies, ls...)
		for _, l := range pl {
			plain[l] = true
		}
	}
	t.Logf("SOCKS ports of the daemon's %d tors: %s", len(tors), strings.Join(proxies, " "))

	waitRefused(t, proxies, plain, targets)

	// The self-check, meanwhile, still gets in.
	attacked := time.Now()
	for i := range 2 {
		name := fmt.Sprintf("site%02d", i)
		waitFor(t, 90*time.Second, name+" checked reachable after the attack", func() error {
			s := d.service(name)
			if c := s.Details.LastCheck; !s.Reachable || c == nil || !c.OK || c.Time.Before(attacked) {
				return fmt.Errorf("state %s: %s", s.State, s.Error)
			}
			return nil
		})
	}

	for _, p := range tors {
		if p.uid == 0 {
			t.Errorf("tor %d (DataDirectory %s) runs as root", p.pid, p.dataDir)
		}
	}
}

// waitRefused waits until nobody is refused every target through every
// proxy: with 0xF4 or 0xF5 where tor tells onion errors apart, with any
// refusal on a port without ExtendedErrors (plain), and at the connection
// to the checker's unix socket. One success ends the test.
func waitRefused(t *testing.T, proxies []string, plain map[string]bool, targets []string) {
	t.Helper()
	waitFor(t, 150*time.Second, "every SOCKS port refuses nobody", func() error {
		var pending []string
		for _, r := range attackAsNobody(t, proxies, targets) {
			unix := strings.HasPrefix(r.Proxy, "unix:")
			switch {
			case r.Code == 0:
				t.Fatalf("nobody reached %s through %s without a credential", r.Target, r.Proxy)
			case unix && r.Code == -1:
				// nobody cannot even connect to the checker's socket.
			case r.Code == int(socks.CodeOnionMissingAuth) || r.Code == int(socks.CodeOnionWrongAuth):
			case plain[r.Proxy] && r.Code > 0:
				// A port without ExtendedErrors cannot say why.
			default:
				pending = append(pending, fmt.Sprintf("%s via %s: %d %s", r.Target, r.Proxy, r.Code, r.Err))
			}
		}
		if len(pending) > 0 {
			return errors.New(strings.Join(pending, "; "))
		}
		return nil
	})
}

// TestSystemModeSelfCheckCredential: attached to a system tor, whose SOCKS
// port every application of the machine uses, the daemon gives that tor
// no credential: nobody is refused through it (and at the checker's
// socket), and the self-check passes.
func TestSystemModeSelfCheckCredential(t *testing.T) {
	requireNet(t)
	testenv.RequireRoot(t, "the attacker runs as nobody")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sys, err := tnet.StartTor(ctx, fmt.Sprintf("system-cred-%d", time.Now().UnixNano()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Stop()
	tmp := t.TempDir()
	socket := filepath.Join(tmp, "api.sock")
	d := &daemon{t: t, state: filepath.Join(tmp, "state"), socket: socket, log: &syncBuffer{}}
	torReachable(t, d.state)
	d.cmd = exec.Command(bin, "daemon", "--firewall-table", firewallTable(d.state), "--state", d.state, "--volatile-dir", d.state+"-volatile",
		"--network", "system", "--tor-control", sys.ControlAddr, "--socket", socket, "--gui-listen", "off", "--check-interval", "10s")
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.stop)
	waitFor(t, 30*time.Second, "daemon API", func() error {
		_, err := client.New(socket).Daemon(context.Background())
		return err
	})
	if out := d.mustCLI("enable", "web", "--wait", "150s"); !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable web:\n%s", out)
	}
	target := d.service("web").OnionAddress + ":80"
	proxies, plainList := socksListeners(t, sys.ControlAddr)
	plain := map[string]bool{}
	for _, l := range plainList {
		plain[l] = true
	}
	waitRefused(t, proxies, plain, []string{target})
	tors := daemonTors(t, d.cmd.Process.Pid)
	if len(tors) != 1 || tors[0].uid == 0 {
		t.Fatalf("daemon's tors in system mode %+v: want the checker alone, not as root", tors)
	}
	ls, pl := socksListeners(t, controlAddr(t, tors[0].dataDir))
	for _, l := range pl {
		plain[l] = true
	}
	waitRefused(t, ls, plain, []string{target})
	attacked := time.Now()
	waitFor(t, 90*time.Second, "web checked reachable after the attack", func() error {
		s := d.service("web")
		if c := s.Details.LastCheck; !s.Reachable || c == nil || !c.OK || c.Time.Before(attacked) {
			return fmt.Errorf("state %s: %s", s.State, s.Error)
		}
		return nil
	})
}

// daemonTor is a tor process the daemon started.
type daemonTor struct {
	pid, uid int
	dataDir  string
}

// daemonTors finds the tors whose parent is the daemon: their real uid and
// their working directory, which the launcher sets to the DataDirectory.
func daemonTors(t *testing.T, daemonPID int) []daemonTor {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []daemonTor
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		var name string
		ppid, uid := -1, -1
		for _, l := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(l, ":")
			f := strings.Fields(v)
			switch {
			case k == "Name" && len(f) > 0:
				name = f[0]
			case k == "PPid" && len(f) > 0:
				ppid, _ = strconv.Atoi(f[0])
			case k == "Uid" && len(f) > 0:
				uid, _ = strconv.Atoi(f[0])
			}
		}
		if name != "tor" || ppid != daemonPID {
			continue
		}
		dir, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, daemonTor{pid: pid, uid: uid, dataDir: dir})
	}
	return out
}

// controlAddr reads the control port a launched tor wrote to its
// DataDirectory.
func controlAddr(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "control-port"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(b)), "PORT=")
}

// socksListeners asks the tor at control address ctl (as root, with its
// cookie) for all its SOCKS listeners, and for those of them configured
// without ExtendedErrors.
func socksListeners(t *testing.T, ctl string) (all, plain []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := tor.Dial(ctx, "tcp", ctl)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(ctx, ""); err != nil {
		t.Fatal(err)
	}
	info, err := c.GetInfo(ctx, "net/listeners/socks")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(info["net/listeners/socks"]) {
		if u, err := strconv.Unquote(f); err == nil {
			f = u
		}
		all = append(all, f)
	}
	conf, err := c.GetConf(ctx, "SocksPort")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range conf["SocksPort"] {
		f := strings.Fields(v)
		if len(f) > 0 && !strings.Contains(v, "ExtendedErrors") {
			plain = append(plain, f[0])
		}
	}
	return all, plain
}

// attackResult is one connection attempt of the attacker: Code is the
// SOCKS reply (0 success), -1 when the proxy could not be reached.
type attackResult struct {
	Proxy, Target string
	Code          int
	Err           string
}

// attackAsNobody runs socksAttack as nobody: a SOCKS5 connect to every
// target through every proxy.
func attackAsNobody(t *testing.T, proxies, targets []string) []attackResult {
	t.Helper()
	dir, err := os.MkdirTemp("", "socks-attack-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "results.json")
	cmd := testenv.StartAsNobody(t, "TAILS_TEST_SOCKS_ATTACK="+strings.Join(proxies, ",")+"|"+strings.Join(targets, ","),
		"TAILS_TEST_SOCKS_OUT="+out)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the attacker as nobody: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res []attackResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != len(proxies)*len(targets) {
		t.Fatalf("%d results for %d proxies and %d targets", len(res), len(proxies), len(targets))
	}
	return res
}

// socksAttack is the attacker's side (TestMain runs it in the process
// started as nobody): spec is "PROXY,PROXY|TARGET,TARGET"; the results go
// to out as JSON.
func socksAttack(spec, out string) int {
	ps, ts, _ := strings.Cut(spec, "|")
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		res []attackResult
	)
	for _, p := range strings.Split(ps, ",") {
		for _, tg := range strings.Split(ts, ",") {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := attackResult{Proxy: p, Target: tg}
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				conn, err := socks.Dial(ctx, p, tg, nil)
				var re *socks.ReplyError
				switch {
				case err == nil:
					conn.Close()
				case errors.As(err, &re):
					r.Code, r.Err = int(re.Code), err.Error()
				default:
					r.Code, r.Err = -1, err.Error()
				}
				mu.Lock()
				res = append(res, r)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	b, err := json.Marshal(res)
	if err == nil {
		err = os.WriteFile(out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestDaemonTorsRunAsTheirOwnUser: the daemon's tors, its checker included,
// run as a user of their own, not as root, and their DataDirectories are
// that user's, closed to others, the one an older daemon left as root's
// included.
func TestDaemonTorsRunAsTheirOwnUser(t *testing.T) {
	requireNet(t)
	testenv.RequireRoot(t, "the daemon runs as root and drops its tors' privileges")
	tmp := t.TempDir()
	// What a daemon that ran tor as root left: root's DataDirectory.
	old := filepath.Join(tmp, "state-volatile", "tor")
	if err := os.MkdirAll(filepath.Join(old, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "state"), []byte("# Tor state file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"), "--gui-listen", "off")
	waitFor(t, 90*time.Second, "tor ready", func() error {
		if st := d.status(); st.Tor.State != "ready" || (st.Checker != nil && st.Checker.State != "ready") {
			return fmt.Errorf("tor %s, checker %+v", st.Tor.State, st.Checker)
		}
		return nil
	})
	tors := daemonTors(t, d.cmd.Process.Pid)
	if len(tors) == 0 {
		t.Fatal("no tor under the daemon")
	}
	for _, p := range tors {
		if p.uid == 0 {
			t.Errorf("tor %d (DataDirectory %s) runs as root", p.pid, p.dataDir)
			continue
		}
		fi, err := os.Stat(p.dataDir)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != p.uid || fi.Mode().Perm() != 0o700 {
			t.Errorf("tor %d runs as uid %d; its DataDirectory %s is uid %d's, mode %04o", p.pid, p.uid, p.dataDir, st.Uid, fi.Mode().Perm())
		}
	}
	if st := d.status(); st.Checker == nil || len(tors) != 2 {
		t.Errorf("%d tors under the daemon, checker %+v: want the first tor and the checker", len(tors), st.Checker)
	}
}

// TestCheckerRestartRestoresCredential: the checker tor killed, the
// supervisor starts it again without the daemon's credentials (they live
// in its memory only); the next self-check, refused with "missing client
// authorization", gives the new checker the credential again and passes,
// and the onion is not re-published for the checker's absence.
func TestCheckerRestartRestoresCredential(t *testing.T) {
	requireNet(t)
	tmp := t.TempDir()
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"), "--gui-listen", "off", "--check-interval", "3s")
	if out := d.mustCLI("enable", "web", "--wait", "150s"); !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable web:\n%s", out)
	}
	st := d.status()
	if st.Checker == nil || st.Checker.PID == 0 {
		t.Fatalf("no checker tor in the daemon's status: %+v", st.Checker)
	}
	killed := time.Now()
	if err := syscall.Kill(st.Checker.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 120*time.Second, "a passing self-check through the new checker", func() error {
		now := d.status()
		if now.Checker == nil || now.Checker.Restarts < 1 || now.Checker.PID == st.Checker.PID {
			return fmt.Errorf("checker %+v", now.Checker)
		}
		s := d.service("web")
		if c := s.Details.LastCheck; c == nil || !c.OK || c.Time.Before(killed) {
			return fmt.Errorf("state %s: %s", s.State, s.Error)
		}
		return nil
	})
	if !strings.Contains(d.log.String(), "self-check credential restored") {
		t.Fatalf("the new checker passed without the credential restored:\n%s", d.log)
	}
	if n := d.service("web").Details.Republished; n != 0 {
		t.Fatalf("web re-published %d times while only the checker restarted", n)
	}
}

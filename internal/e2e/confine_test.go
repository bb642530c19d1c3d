package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
	"tails-server/internal/isolation"
	"tails-server/internal/testenv"
)

// confinePolicy is the Tails layout with the browser's port confined and
// the mail client confined: two namespaces, ts-browser and ts-mail.
const confinePolicy = `ports:
  - name: default
    port: 9050
    flags: [IsolateDestAddr, IsolateDestPort]
  - name: browser
    port: 9150
    flags: [IsolateSOCKSAuth, KeepAliveIsolateSOCKSAuth]
    confine: true
  - name: trans
    type: trans
    port: 9040
  - name: dns
    type: dns
    port: 5353
apps:
  - name: browser
    port: browser
  - name: mail
    port: default
    confine: true
  - name: chat
    port: default
`

// confineEnv is a confining daemon and what the tests run as nobody.
type confineEnv struct {
	d      *daemon // nil in the benchmark
	socket string
	dir    string // 0755: the socket and the binary, reachable by nobody
	bin    string
	gid    uint32 // the API group's
	policy *isolation.Policy
	offset int

	mu     sync.Mutex
	events []apitype.IsolationAuditEvent
}

// as runs the CLI as nobody (a member of the API group unless
// outsider), with no proxy settings of its own; it returns stdout,
// stderr and the exit code.
func (c *confineEnv) as(t testing.TB, outsider bool, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/nonexistent", "TAILS_SERVER_SOCKET=" + c.socket}
	cmd.Dir = "/"
	groups := []uint32{c.gid}
	if outsider {
		groups = nil
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: testenv.Nobody, Gid: testenv.Nobody, Groups: groups}}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// inside runs a shell script confined in app's namespace (transparent
// or not), as nobody.
func (c *confineEnv) inside(t testing.TB, app string, transparent bool, script string) (string, string, int) {
	t.Helper()
	args := []string{"isolation", "run", app, "--confine"}
	if transparent {
		args = append(args, "--transparent")
	}
	return c.as(t, false, append(args, "--", "sh", "-c", script)...)
}

// outside runs the same script through a plain `isolation run`, as
// nobody, in the host's namespace: the control.
func (c *confineEnv) outside(t testing.TB, app, script string) (string, string, int) {
	t.Helper()
	return c.as(t, false, "isolation", "run", app, "--port-offset", strconv.Itoa(c.offset), "--policy", filepath.Join(c.dir, "policy.yaml"), "--", "sh", "-c", script)
}

func startConfineEnv(t *testing.T) *confineEnv {
	t.Helper()
	requireNet(t)
	testenv.RequireRoot(t, "network namespaces and nftables need root")
	for _, p := range []string{"ip", "nft", "setpriv", "curl", "bash"} {
		testenv.RequireProgram(t, p)
	}
	dir, err := os.MkdirTemp("", "confine-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	c := &confineEnv{dir: dir, bin: filepath.Join(dir, "tails-server")}
	b, err := os.ReadFile(bin)
	if err != nil || os.WriteFile(c.bin, b, 0o755) != nil {
		t.Fatalf("copying the binary: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(confinePolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	c.policy, err = isolation.Parse("policy.yaml", []byte(confinePolicy))
	if err != nil {
		t.Fatal(err)
	}
	// The confined listeners' addresses do not exist before the daemon
	// puts them on loopback; their port numbers are the unconfined ones'.
	plain, err := isolation.Parse("plain.yaml", []byte(strings.ReplaceAll(confinePolicy, "confine: true", "confine: false")))
	if err != nil {
		t.Fatal(err)
	}
	c.offset = freeOffset(t, plain)
	c.d = startDaemon(t, filepath.Join(dir, "state"), filepath.Join(dir, "api.sock"), "--gui-listen", "off",
		"--isolation-policy", filepath.Join(dir, "policy.yaml"), "--isolation-port-offset", strconv.Itoa(c.offset))
	c.socket = c.d.socket
	g, err := user.LookupGroup("tails-server")
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	c.gid = uint32(gid)
	cl := client.New(c.d.socket)
	waitFor(t, 90*time.Second, "the daemon's tor with the confined listeners", func() error {
		pol, err := cl.IsolationPolicy(context.Background())
		if err == nil && (!pol.Checked || len(pol.Missing) > 0 || len(pol.Confined) != 2) {
			err = fmt.Errorf("checked %v, missing %q, confined %v", pol.Checked, pol.Missing, pol.Confined)
		}
		return err
	})
	// Follow the daemon's audit for the whole test.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		cl.FollowIsolationAudit(ctx, 10*time.Minute, func(ev apitype.IsolationAuditEvent) {
			c.mu.Lock()
			c.events = append(c.events, ev)
			c.mu.Unlock()
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 30*time.Second, "the daemon's audit to start", func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, ev := range c.events {
			if strings.HasPrefix(ev.Note, isolation.ReadyNote) {
				return nil
			}
		}
		return errors.New("not yet")
	})
	return c
}

// stream waits for the audit's stream matching f.
func (c *confineEnv) stream(t *testing.T, what string, f func(apitype.AuditStream) bool) apitype.AuditStream {
	t.Helper()
	var out apitype.AuditStream
	waitFor(t, 30*time.Second, what, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, ev := range c.events {
			if ev.Stream != nil && f(*ev.Stream) {
				out = *ev.Stream
				return nil
			}
		}
		return errors.New("not in the audit")
	})
	return out
}

func (c *confineEnv) foreign() []apitype.AuditForeign {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []apitype.AuditForeign
	for _, ev := range c.events {
		if ev.Foreign != nil {
			out = append(out, *ev.Foreign)
		}
	}
	return out
}

// TestConfine: confined programs, run as nobody through the daemon,
// reach the network only through their app's Tor ports; everything
// else fails where the same probe succeeds unconfined.
func TestConfine(t *testing.T) {
	c := startConfineEnv(t)
	br, _ := c.policy.ConfinedApp("browser")
	veth := br.Host.String()
	var mu sync.Mutex
	var udpHost, udpVeth int
	dest := startDest(t, "dest-a")
	hostTCP := dest.port                                         // 127.0.0.1
	vethTCP := hostListen(t, "tcp", veth+":0", "veth", nil, nil) // host side of the veth, another port
	v6TCP := hostListen(t, "tcp", "[::1]:0", "ipv6", nil, nil)   // the host's IPv6 loopback
	uHost := hostListen(t, "udp", "127.0.0.1:0", "", &mu, &udpHost)
	uVeth := hostListen(t, "udp", veth+":0", "", &mu, &udpVeth)
	l := startLAN(t)
	dgrams := func() (int, int, int) { mu.Lock(); defer mu.Unlock(); return udpHost, udpVeth, l.datagrams() }

	t.Run("socks", func(t *testing.T) {
		out, errOut, code := c.inside(t, "browser", false, fmt.Sprintf(`id -u; curl -sS -m 60 --socks5-hostname "${ALL_PROXY#socks5h://}" --proxy-user site-a:x http://127.0.0.1:%d/`, hostTCP))
		if !strings.Contains(out, "hello from dest-a") || !strings.HasPrefix(out, strconv.Itoa(testenv.Nobody)+"\n") {
			t.Fatalf("confined curl through the browser's SOCKS port: exit %d\n%s%s\ndaemon log:\n%s", code, out, errOut, c.d.log)
		}
		st := c.stream(t, "the confined stream in the audit", func(s apitype.AuditStream) bool { return s.Username == "site-a" })
		if st.Port != "browser-confined" || !strings.HasPrefix(st.Source, br.NS.String()+":") {
			t.Errorf("audit: stream on port %q from %q, want browser-confined from %s", st.Port, st.Source, br.NS)
		}
		if f := c.foreign(); len(f) != 0 {
			t.Errorf("audit flags the namespace's own stream as foreign: %+v", f)
		}
		// A stream on the confined port from the host (not the
		// namespace) is flagged.
		socks, _ := br.Socks.Addr(c.offset)
		if out, err := exec.Command("curl", "-sS", "-m", "60", "--socks5-hostname", socks, "--proxy-user", "intruder:x", fmt.Sprintf("http://127.0.0.1:%d/", hostTCP)).CombinedOutput(); !strings.Contains(string(out), "hello from dest-a") {
			t.Fatalf("curl from the host to %s: %v %s", socks, err, out)
		}
		waitFor(t, 30*time.Second, "the audit to flag the host's stream", func() error {
			for _, f := range c.foreign() {
				if f.App == "browser" && f.Expected == br.NS.String() && strings.HasPrefix(f.Source, "127.0.0.1:") || strings.HasPrefix(f.Source, veth+":") {
					return nil
				}
			}
			return fmt.Errorf("foreign: %+v", c.foreign())
		})
	})

	t.Run("probes", func(t *testing.T) {
		tcp := func(addr string) string {
			return fmt.Sprintf(`curl --noproxy '*' -sS -g -m 3 http://%s/ && echo REACHED`, addr)
		}
		probes := []struct{ what, script string }{
			{"TCP to the host's 127.0.0.1", tcp(fmt.Sprintf("127.0.0.1:%d", hostTCP))},
			{"TCP to the veth's host side, another port", tcp(fmt.Sprintf("%s:%d", veth, vethTCP))},
			{"TCP to the LAN", tcp(fmt.Sprintf("%s:%d", l.addr, l.tcp))},
			{"TCP over IPv6 to the host", tcp(fmt.Sprintf("[::1]:%d", v6TCP))},
		}
		for _, p := range probes {
			out, errOut, _ := c.outside(t, "browser", p.script)
			if !strings.Contains(out, "REACHED") {
				t.Errorf("control: %s unconfined did not succeed: %s%s", p.what, out, errOut)
			}
			out, errOut, _ = c.inside(t, "browser", false, p.script)
			if strings.Contains(out, "REACHED") {
				t.Errorf("%s succeeded from inside the namespace: %s%s", p.what, out, errOut)
			}
		}
		// UDP (and DNS) datagrams: counted by the servers.
		udp := fmt.Sprintf(`for a in 127.0.0.1:%d %s:%d %s:%d; do bash -c 'echo x > /dev/udp/${0%%:*}/${0#*:}' $a 2>/dev/null; done; true`, uHost, veth, uVeth, l.addr, l.udp)
		c.outside(t, "browser", udp)
		waitFor(t, 10*time.Second, "the control datagrams", func() error {
			if a, b, c := dgrams(); a < 1 || b < 1 || c < 1 {
				return fmt.Errorf("received %d %d %d", a, b, c)
			}
			return nil
		})
		a0, b0, c0 := dgrams()
		c.inside(t, "browser", false, udp)
		c.inside(t, "browser", true, udp)
		// DNS inside without --transparent goes nowhere.
		if out, _, _ := c.inside(t, "browser", false, `getent hosts dest-a.test && echo RESOLVED`); strings.Contains(out, "RESOLVED") {
			t.Errorf("a DNS query resolved inside the SOCKS-only namespace: %s", out)
		}
		time.Sleep(500 * time.Millisecond) // datagrams in flight; a late one would show as a failure below
		if a, b, c := dgrams(); a != a0 || b != b0 || c != c0 {
			t.Errorf("datagrams from inside the namespace arrived: host %d, veth %d, LAN %d", a-a0, b-b0, c-c0)
		}
		// The host reaches nothing inside: a listener there answers
		// on the namespace's loopback (the control), not to the host.
		res := make(chan string, 1)
		go func() {
			out, errOut, _ := c.inside(t, "browser", false, `nc -lk 18999 </dev/null >/dev/null & sleep 0.5; nc -z -w1 127.0.0.1 18999 && echo LISTENING; sleep 3; kill $!`)
			res <- out + errOut
		}()
		time.Sleep(2 * time.Second)
		if conn, err := net.DialTimeout("tcp", net.JoinHostPort(br.NS.String(), "18999"), time.Second); err == nil {
			conn.Close()
			t.Errorf("the host reached a listener inside the namespace")
		}
		if out := <-res; !strings.Contains(out, "LISTENING") {
			t.Errorf("control: the listener inside did not answer on its loopback: %s", out)
		}
	})

	t.Run("transparent", func(t *testing.T) {
		onion := c.onion(t, c.d.state+"-volatile", dest)
		script := fmt.Sprintf(`curl --noproxy '*' -sS -m 30 http://%s.onion/ && echo REACHED`, onion)
		var out, errOut string
		waitFor(t, 90*time.Second, "the onion through the browser's TransPort", func() error {
			out, errOut, _ = c.inside(t, "browser", true, script)
			if !strings.Contains(out, "hello from dest-a") {
				return fmt.Errorf("%s%s", out, errOut)
			}
			return nil
		})
		// Tor names the stream by the virtual address it gave the onion
		// (VirtualAddrNetworkIPv4), which left the namespace by its veth.
		st := c.stream(t, "the transparent stream in the audit", func(s apitype.AuditStream) bool {
			return s.Protocol == "TRANS" && strings.HasPrefix(s.Source, br.NS.String()+":")
		})
		if vn := netip.MustParsePrefix(isolation.VirtualAddrNetwork); !vn.Contains(netip.MustParseAddrPort(st.Target).Addr()) {
			t.Errorf("transparent stream to %s, outside %s", st.Target, vn)
		}
		if st.Port != "browser-confined-trans" || !strings.HasPrefix(st.Source, br.NS.String()+":") {
			t.Errorf("transparent stream on %q from %q", st.Port, st.Source)
		}
		// The same program unconfined does not go through tor: the
		// name does not even resolve.
		out, errOut, _ = c.outside(t, "browser", script)
		if strings.Contains(out, "REACHED") {
			t.Errorf("plain curl reached the onion without confinement: %s%s", out, errOut)
		}
	})

	t.Run("two apps, two circuits", func(t *testing.T) {
		for _, app := range []string{"browser", "mail"} {
			out, errOut, code := c.inside(t, app, false, fmt.Sprintf(`curl -sS -m 60 --proxy-user two-%s:x http://127.0.0.1:%d/`, app, hostTCP))
			// (curl may see the exit's reset after the whole answer.)
			if !strings.Contains(out, "hello from dest-a") {
				t.Fatalf("%s: exit %d %s%s", app, code, out, errOut)
			}
		}
		b := c.stream(t, "browser's stream", func(s apitype.AuditStream) bool { return s.Username == "two-browser" })
		m := c.stream(t, "mail's stream", func(s apitype.AuditStream) bool { return s.Username == "two-mail" })
		if m.Port != "mail-confined" {
			t.Errorf("mail's stream on %q", m.Port)
		}
		for _, x := range b.Circuits {
			for _, y := range m.Circuits {
				if x == y {
					t.Errorf("browser and mail shared circuit %s", x)
				}
			}
		}
	})

	t.Run("shared namespace", func(t *testing.T) {
		// A first program holds ts-browser; a second shares it; the
		// namespace outlives the second and goes with the first.
		long := make(chan string, 1)
		go func() {
			out, errOut, _ := c.inside(t, "browser", false, "sleep 4; echo DONE")
			long <- out + errOut
		}()
		waitFor(t, 20*time.Second, "the first program's namespace", func() error {
			if len(leftovers(t)) == 0 {
				return errors.New("no namespace yet")
			}
			return nil
		})
		out, errOut, _ := c.inside(t, "browser", false, fmt.Sprintf(`curl -sS -m 60 --proxy-user shared:x http://127.0.0.1:%d/`, hostTCP))
		if !strings.Contains(out, "hello from dest-a") {
			t.Errorf("second program in the shared namespace: %s%s", out, errOut)
		}
		// Another mode while in use is refused, in one line.
		if _, errOut, code := c.inside(t, "browser", true, "true"); code == 0 || !strings.Contains(errOut, "already confined in SOCKS-only mode") {
			t.Errorf("transparent while SOCKS-only in use: exit %d %s", code, errOut)
		}
		if len(leftovers(t)) == 0 {
			t.Error("the namespace went with the second program while the first runs")
		}
		if out := <-long; !strings.Contains(out, "DONE") {
			t.Errorf("first program: %s", out)
		}
		waitFor(t, 10*time.Second, "the namespace to go with the last program", func() error {
			if lo := leftovers(t); len(lo) > 0 {
				return fmt.Errorf("left: %v", lo)
			}
			return nil
		})
	})

	t.Run("bad input", func(t *testing.T) {
		for _, tc := range []struct {
			args     []string
			outsider bool
			want     string
		}{
			{[]string{"isolation", "run", "nosuch", "--confine", "--", "true"}, false, `unknown app "nosuch"`},
			{[]string{"isolation", "run", "chat", "--confine", "--", "true"}, false, "app chat is not confined by the daemon's policy"},
			{[]string{"isolation", "run", "browser", "--confine", "--", "true"}, true, "permission denied on " + c.d.socket},
			{[]string{"isolation", "run", "browser", "--transparent", "--", "true"}, false, "--transparent goes with --confine"},
		} {
			_, errOut, code := c.as(t, tc.outsider, tc.args...)
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if code == 0 || !strings.Contains(lines[0], tc.want) || len(lines) > 2 {
				t.Errorf("%v: exit %d\n%s", tc.args, code, errOut)
			}
		}
		// A range colliding with an interface (the LAN stand-in's)
		// stops the daemon before anything is set up.
		bad := filepath.Join(c.dir, "collide.yaml")
		os.WriteFile(bad, []byte("confine-range: 10.231.0.0/16\n"+confinePolicy), 0o644)
		st := filepath.Join(c.dir, "collide")
		_, errOut, code := cli(t, nil, "daemon", "--state", st, "--network", "testnet", "--firewall-table", firewallTable(st), "--testnet-dir", tnet.Dir, "--volatile-dir", st+"-volatile",
			"--socket", filepath.Join(c.dir, "collide.sock"), "--gui-listen", "off", "--isolation-policy", bad, "--isolation-port-offset", strconv.Itoa(c.offset+3))
		if lines := strings.Split(strings.TrimSpace(errOut), "\n"); code == 0 || len(lines) > 2 || !strings.Contains(lines[0], "the confine range 10.231.0.0/16 collides with the host's address 10.231.77.1/24 on e2elan0") {
			t.Errorf("daemon with a colliding range: exit %d\n%s", code, errOut)
		}
		if out, _ := exec.Command("ip", "-4", "addr", "show", "dev", "lo").Output(); strings.Contains(string(out), "10.231.") {
			t.Errorf("the refused range was put on loopback:\n%s", out)
		}
		// Root is refused: the command never runs as root.
		_, errOut, code = c.d.cli("isolation", "run", "browser", "--confine", "--", "true")
		if code == 0 || !strings.Contains(errOut, "refusing to run a confined program as root") {
			t.Errorf("as root: exit %d %s", code, errOut)
		}
		if lo := leftovers(t); len(lo) != 0 {
			t.Errorf("bad requests left %v", lo)
		}
	})

	t.Run("crash", func(t *testing.T) {
		cmd := exec.Command(c.bin, "isolation", "run", "browser", "--confine", "--", "sleep", "120")
		cmd.Env = []string{"PATH=/usr/bin:/bin", "TAILS_SERVER_SOCKET=" + c.socket}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: testenv.Nobody, Gid: testenv.Nobody, Groups: []uint32{c.gid}}}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		waitFor(t, 20*time.Second, "the confined sleep", func() error {
			if len(leftovers(t)) < 2 {
				return errors.New("no namespace yet")
			}
			return nil
		})
		pids, _ := exec.Command("ip", "netns", "pids", "ts-browser").Output()
		c.d.cmd.Process.Signal(syscall.SIGKILL)
		c.d.cmd.Wait()
		if len(leftovers(t)) == 0 {
			t.Fatal("the kill removed the namespace: the test proves nothing")
		}
		dir := filepath.Join(c.dir, "again")
		os.MkdirAll(dir, 0o755)
		startDaemon(t, filepath.Join(dir, "state"), filepath.Join(dir, "api.sock"), "--gui-listen", "off",
			"--isolation-policy", filepath.Join(c.dir, "policy.yaml"), "--isolation-port-offset", strconv.Itoa(c.offset+7))
		if lo := leftovers(t); len(lo) != 0 {
			t.Errorf("after the restart: %v", lo)
		}
		if len(strings.Fields(string(pids))) == 0 {
			t.Fatal("no program in the namespace before the crash")
		}
		waitFor(t, 10*time.Second, "the orphaned confined program to be gone", func() error {
			for _, p := range strings.Fields(string(pids)) {
				if st, err := os.ReadFile("/proc/" + p + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
					return fmt.Errorf("pid %s still runs", p)
				}
			}
			return nil
		})
	})
}

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
	"tails-server/internal/isolation"
	"tails-server/internal/socks"
	"tails-server/internal/testenv"
	"tails-server/internal/testnet"
	"tails-server/internal/tor"
)

// streamSeen is what the test's own control connection learned of one
// stream, keyed by the client's source address.
type streamSeen struct {
	id, circ, group, user, target string
}

// streamLog follows STREAM events and remembers every stream by its
// SOCKS client address.
type streamLog struct {
	mu       sync.Mutex
	bySource map[string]*streamSeen
	byID     map[string]*streamSeen
	probes   map[string]bool // usernames of the audits' probes
}

func followStreams(t *testing.T, c *tor.Conn) *streamLog {
	t.Helper()
	evs, cancel, err := c.Subscribe("STREAM")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	l := &streamLog{bySource: map[string]*streamSeen{}, byID: map[string]*streamSeen{}, probes: map[string]bool{}}
	go func() {
		for ev := range evs {
			s, ok := tor.ParseStream(ev)
			if !ok {
				continue
			}
			l.mu.Lock()
			if strings.HasPrefix(s.SocksUsername, "tails-server-audit-probe-") {
				l.probes[s.SocksUsername] = true
			} else if s.Status == "NEW" && s.SourceAddr != "" {
				st := &streamSeen{id: s.ID, group: s.SessionGroup, user: s.SocksUsername, target: s.Target}
				l.bySource[s.SourceAddr], l.byID[s.ID] = st, st
			}
			if st := l.byID[s.ID]; st != nil && st.circ == "" && s.CircID != "0" && s.CircID != "" {
				st.circ = s.CircID
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// wait returns the stream opened from source once it has a circuit.
func (l *streamLog) wait(t *testing.T, source string) streamSeen {
	t.Helper()
	var out streamSeen
	waitFor(t, 30*time.Second, "STREAM event of "+source, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		st := l.bySource[source]
		if st == nil || st.circ == "" {
			return errors.New("not seen yet")
		}
		out = *st
		return nil
	})
	return out
}

// find returns the first stream matching f once there is one with a
// circuit.
func (l *streamLog) find(t *testing.T, what string, f func(streamSeen) bool) streamSeen {
	t.Helper()
	var out streamSeen
	waitFor(t, 30*time.Second, what, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, st := range l.bySource {
			if st.circ != "" && f(*st) {
				out = *st
				return nil
			}
		}
		return errors.New("no such stream yet")
	})
	return out
}

func (l *streamLog) probeCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.probes)
}

// dest is a local TCP server that greets every connection with its name.
type dest struct {
	name   string // as the SOCKS client asks for it (MapAddress'd to 127.0.0.1)
	port   int
	greets string // the name in the server's greeting
}

func (d dest) target() string { return net.JoinHostPort(d.name, strconv.Itoa(d.port)) }

func startDest(t testing.TB, name string) dest {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	d := dest{name: name, port: ln.Addr().(*net.TCPAddr).Port, greets: name}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from %s\n", name)
				// Half-close, then drain what the client sends (an HTTP
				// request), so that closing does not reset the
				// connection under its feet.
				c.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return d
}

// freeOffset finds a port offset at which every listener of p is free.
func freeOffset(t testing.TB, p *isolation.Policy) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		base, err := testnet.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		off := base - 9040
		if off < 1000 || off > 50000 {
			continue
		}
		ok := true
		for _, l := range p.Listeners() {
			addr, err := l.Addr(off)
			if err != nil {
				ok = false
				break
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return off
		}
	}
	t.Fatal("no free port offset for the policy")
	return 0
}

// isoClient is a client tor started with the rendered default policy.
type isoClient struct {
	tor    *testnet.Tor
	ctl    *tor.Conn
	log    *streamLog
	offset int
	p      *isolation.Policy
	dests  []dest
}

func (c *isoClient) socksAddr(t *testing.T, app string) string {
	t.Helper()
	a, err := c.p.SocksAddr(app, c.offset)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// open opens a stream through the app's port to d (with user as SOCKS
// username if not empty), reads the greeting, and returns what tor said
// of the stream.
func (c *isoClient) open(t *testing.T, app, user string, d dest) streamSeen {
	t.Helper()
	var auth *socks.Auth
	if user != "" {
		auth = &socks.Auth{Username: user, Password: "x"}
	}
	var conn net.Conn
	waitFor(t, 90*time.Second, "stream "+app+" -> "+d.target(), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		conn, err = socks.Dial(ctx, c.socksAddr(t, app), d.target(), auth)
		return err
	})
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	b, _ := io.ReadAll(conn)
	if !strings.Contains(string(b), "hello from "+d.greets) {
		t.Fatalf("%s -> %s answered %q", app, d.target(), b)
	}
	return c.log.wait(t, conn.LocalAddr().String())
}

func startIsoClient(t *testing.T) *isoClient {
	t.Helper()
	env := requireNet(t)
	c := &isoClient{p: isolation.Default()}
	c.offset = freeOffset(t, c.p)
	// The snippet the CLI renders, included as is.
	out, stderr, code := cli(t, nil, "isolation", "torrc", "--port-offset", strconv.Itoa(c.offset))
	if code != 0 {
		t.Fatalf("isolation torrc: %d %s", code, stderr)
	}
	inc := filepath.Join(t.TempDir(), "isolation.torrc")
	if err := os.WriteFile(inc, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	// Destinations differ by name (tor isolates by the address asked
	// for) and by port; they all live on 127.0.0.1, which the private
	// network's exit reaches as an exit enclave. 10.99.0.1 is for
	// torsocks, which would refuse a loopback address.
	extra := []string{
		"%include " + inc,
		"ConfluxEnabled 0", // circuit reuse seen exactly, not through conflux legs
		"MapAddress dest-a.test 127.0.0.1",
		"MapAddress dest-b.test 127.0.0.1",
		"MapAddress dest-c.test 127.0.0.1",
		"MapAddress 10.99.0.1 127.0.0.1",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	c.tor, err = env.StartTor(ctx, fmt.Sprintf("iso-%d", time.Now().UnixNano()), extra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.tor.Stop() })
	c.ctl, err = tor.Dial(ctx, "tcp", c.tor.ControlAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.ctl.Close() })
	if err := c.ctl.Authenticate(ctx, ""); err != nil {
		t.Fatal(err)
	}
	c.log = followStreams(t, c.ctl)
	for _, n := range []string{"dest-a.test", "dest-b.test", "dest-c.test"} {
		c.dests = append(c.dests, startDest(t, n))
	}
	return c
}

// audit is a running `isolation audit`.
type audit struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
}

func startAudit(t *testing.T, args ...string) *audit {
	t.Helper()
	a := &audit{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	a.cmd = exec.Command(bin, append([]string{"-o", "json", "isolation", "audit", "--for", "10m"}, args...)...)
	a.cmd.Stdout, a.cmd.Stderr = a.stdout, a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.cmd.Process.Kill(); a.cmd.Wait() })
	return a
}

// stop ends the audit with SIGINT and returns its report and exit code.
func (a *audit) stop(t *testing.T) (apitype.IsolationAudit, int) {
	t.Helper()
	a.cmd.Process.Signal(syscall.SIGINT)
	err := a.cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	var r apitype.IsolationAudit
	if err := json.Unmarshal([]byte(a.stdout.String()), &r); err != nil {
		t.Fatalf("audit report: %v\nstdout: %s\nstderr: %s", err, a.stdout, a.stderr)
	}
	return r, code
}

// strictPolicy is the default layout but for an upgrader port that
// isolates by destination address: the tor running the default policy
// breaks it whenever the upgrader reuses a circuit.
const strictPolicy = `ports:
  - name: default
    port: 9050
    flags: [IsolateDestAddr, IsolateDestPort]
  - name: system
    port: 9062
    flags: [IsolateDestAddr, IsolateDestPort]
  - name: upgrader
    port: 9063
    flags: [IsolateDestAddr]
  - name: browser
    port: 9150
    flags: [IsolateSOCKSAuth, KeepAliveIsolateSOCKSAuth]
  - name: trans
    type: trans
    port: 9040
  - name: dns
    type: dns
    port: 5353
apps:
  - name: upgrader
    port: upgrader
`

// TestIsolation opens real streams through every SOCKS port of the
// rendered default policy, reads each stream's circuit from tor's STREAM
// events, checks what tor promises for each flag, and checks that the
// audit reports the same circuits (and, against a stricter policy, the
// pairs that break it).
func TestIsolation(t *testing.T) {
	c := startIsoClient(t)
	a, b, d := c.dests[0], c.dests[1], c.dests[2]
	ctl := c.tor.ControlAddr

	strict := filepath.Join(t.TempDir(), "strict.yaml")
	if err := os.WriteFile(strict, []byte(strictPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	off := strconv.Itoa(c.offset)
	audit1 := startAudit(t, "--control", ctl, "--port-offset", off)
	audit2 := startAudit(t, "--control", ctl, "--cookie", c.tor.CookiePath, "--port-offset", off, "--policy", strict)
	// Each audit probes the five SOCKS listeners (four of the policy,
	// the test network's own) before it counts.
	waitFor(t, 30*time.Second, "the audits' probes", func() error {
		if n := c.log.probeCount(); n < 10 {
			return fmt.Errorf("%d probes seen", n)
		}
		return nil
	})

	type opened struct {
		app, user string
		d         dest
		s         streamSeen
	}
	var all []opened
	open := func(app, user string, d dest) streamSeen {
		s := c.open(t, app, user, d)
		all = append(all, opened{app, user, d, s})
		return s
	}
	// IsolateDestAddr + IsolateDestPort: another address or another port,
	// another circuit; the same destination may share.
	for _, app := range []string{"default", "updates"} {
		s1 := open(app, "", a)
		s2 := open(app, "", b)
		s3 := open(app, "", dest{name: a.name, port: d.port, greets: d.greets})
		if s1.circ == s2.circ || s1.circ == s3.circ || s2.circ == s3.circ {
			t.Errorf("%s: destinations shared circuits: %s=%s %s=%s %s=%s", app, a.target(), s1.circ, b.target(), s2.circ, a.name+":"+strconv.Itoa(d.port), s3.circ)
		}
	}
	// The upgrader: no isolation, one circuit.
	u1 := open("upgrader", "", a)
	u2 := open("upgrader", "", b)
	u3 := open("upgrader", "", d)
	if u1.circ != u2.circ || u1.circ != u3.circ {
		t.Errorf("upgrader used circuits %s, %s, %s; want one", u1.circ, u2.circ, u3.circ)
	}
	// The browser: one circuit per SOCKS username, whatever the
	// destination; two usernames never share.
	b1 := open("browser", "site-a.example", a)
	b2 := open("browser", "site-a.example", b)
	b3 := open("browser", "site-b.example", a)
	if b1.circ != b2.circ {
		t.Errorf("browser, one username, two destinations: circuits %s and %s; want one (no destination isolation)", b1.circ, b2.circ)
	}
	if b3.circ == b1.circ {
		t.Errorf("browser: usernames site-a and site-b shared circuit %s", b1.circ)
	}
	// Two ports never share.
	portOf := map[string]string{}
	for _, o := range all {
		port, _ := c.p.AppListener(o.app)
		if prev, ok := portOf[o.s.circ]; ok && prev != port.Name {
			t.Errorf("circuit %s carried streams of ports %s and %s", o.s.circ, prev, port.Name)
		}
		portOf[o.s.circ] = port.Name
	}

	// The audit saw the same streams on the same circuits, named the
	// same ports, and found nothing against the default policy.
	r1, code := audit1.stop(t)
	if code != 0 || len(r1.Violations) != 0 {
		t.Errorf("audit of the default policy: exit %d, violations %+v\nstderr: %s", code, r1.Violations, audit1.stderr)
	}
	byID := map[string]apitype.AuditStream{}
	for _, s := range r1.Streams {
		byID[s.ID] = s
	}
	pairs := func(circOf func(o opened) string) []string {
		var out []string
		for i := range all {
			for j := i + 1; j < len(all); j++ {
				if ci := circOf(all[i]); ci != "" && ci == circOf(all[j]) {
					out = append(out, all[i].s.id+"+"+all[j].s.id)
				}
			}
		}
		return out
	}
	for _, o := range all {
		as, ok := byID[o.s.id]
		port, _ := c.p.AppListener(o.app)
		if !ok || !slices.Contains(as.Circuits, o.s.circ) || as.Port != port.Name || as.Username != o.user {
			t.Errorf("audit has stream %s as %+v; the test saw circuit %s on port %s, user %q", o.s.id, as, o.s.circ, port.Name, o.user)
		}
	}
	testPairs := pairs(func(o opened) string { return o.s.circ })
	auditPairs := pairs(func(o opened) string {
		if s, ok := byID[o.s.id]; ok && len(s.Circuits) == 1 {
			return s.Circuits[0]
		}
		return ""
	})
	if !slices.Equal(testPairs, auditPairs) || len(testPairs) == 0 {
		t.Errorf("pairs sharing a circuit: test %v, audit %v", testPairs, auditPairs)
	}

	// Against the strict policy, the upgrader's sharing is a violation:
	// exactly the pairs of upgrader streams.
	r2, code := audit2.stop(t)
	if code != 1 {
		t.Errorf("audit against the strict policy exited %d, want 1", code)
	}
	var got []string
	for _, v := range r2.Violations {
		got = append(got, v.First+"+"+v.Second)
		if v.Circuit != u1.circ || !strings.Contains(v.Reason, "port upgrader isolates by destination address") {
			t.Errorf("violation %+v", v)
		}
	}
	want := []string{u1.id + "+" + u2.id, u1.id + "+" + u3.id, u2.id + "+" + u3.id}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("violations against the strict policy: %v, want %v", got, want)
	}

	t.Run("run/curl", func(t *testing.T) {
		testenv.RequireProgram(t, "curl")
		out, stderr, code := cli(t, nil, "isolation", "run", "browser", "--port-offset", off, "--isolate-key", "site-c.example",
			"--", "curl", "-sS", "--max-time", "60", "http://"+a.target()+"/")
		if code != 0 || !strings.Contains(out, "hello from dest-a.test") {
			t.Fatalf("curl through isolation run: exit %d, %q, %s", code, out, stderr)
		}
		s := c.log.find(t, "curl's stream", func(s streamSeen) bool { return s.user == "site-c.example" })
		if s.group != b1.group || s.target != a.target() {
			t.Errorf("curl's stream: %+v; want session group %s (the browser port) and target %s", s, b1.group, a.target())
		}
		if s.circ == b1.circ || s.circ == b3.circ {
			t.Errorf("curl with its own isolate key shared circuit %s with another site", s.circ)
		}
	})
	t.Run("run/torsocks", func(t *testing.T) {
		testenv.RequireProgram(t, "torsocks")
		testenv.RequireProgram(t, "nc")
		// nc ignores proxy variables; torsocks sends it to the app's
		// port. 10.99.0.1 exists only inside tor (MapAddress).
		target := net.JoinHostPort("10.99.0.1", strconv.Itoa(b.port))
		out, stderr, code := cli(t, nil, "isolation", "run", "updates", "--port-offset", off, "--torsocks", "--", "nc", "-w", "60", "10.99.0.1", strconv.Itoa(b.port))
		if code != 0 || !strings.Contains(out, "hello from dest-b.test") {
			t.Fatalf("nc under torsocks: exit %d, %q, %s", code, out, stderr)
		}
		updates := all[3].s // the first stream of app updates
		s := c.log.find(t, "nc's stream", func(s streamSeen) bool { return s.target == target })
		if s.group != updates.group {
			t.Errorf("nc's stream arrived in session group %s, the updates port's is %s", s.group, updates.group)
		}
	})
	t.Run("run/exit-status-and-cleanup", func(t *testing.T) {
		out, _, code := cli(t, nil, "isolation", "run", "default", "--port-offset", off, "--isolate-key", "k1",
			"--", "sh", "-c", `test -r "$TORSOCKS_CONF_FILE" && grep -c '^SOCKS5Username k1$' "$TORSOCKS_CONF_FILE" && echo "$TORSOCKS_CONF_FILE"; echo "$ALL_PROXY"; exit 7`)
		if code != 7 {
			t.Errorf("exit status %d, want the command's 7", code)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || lines[0] != "1" || lines[2] != "socks5h://k1:tails-server@"+c.socksAddr(t, "default") {
			t.Fatalf("the command saw %q", out)
		}
		if _, err := os.Stat(filepath.Dir(lines[1])); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the private directory %s outlived the command: %v", filepath.Dir(lines[1]), err)
		}
	})
}

// TestIsolationBadInput: an unknown app, a reserved isolate key, a policy
// the running tor does not expose, and a control connection that drops
// during an audit.
func TestIsolationBadInput(t *testing.T) {
	t.Run("run", func(t *testing.T) {
		_, stderr, code := cli(t, nil, "isolation", "run", "thunderbird", "--", "true")
		if code != 2 || !strings.Contains(stderr, `tails-server: error: unknown app "thunderbird"`) || !strings.Contains(stderr, "hint: known apps: default, mail") {
			t.Errorf("unknown app: exit %d, %s", code, stderr)
		}
		_, stderr, code = cli(t, nil, "isolation", "run", "browser", "--isolate-key", "<torS0X>0", "--", "true")
		if code != 2 || !strings.Contains(stderr, "Tor reserves") {
			t.Errorf("reserved key: exit %d, %s", code, stderr)
		}
		_, stderr, code = cli(t, nil, "isolation", "run", "browser", "--isolate-key", "a\nTorPort 1", "--", "true")
		if code != 2 || strings.Count(stderr, "\n") > 2 {
			t.Errorf("key with a line break: exit %d, %s", code, stderr)
		}
		_, stderr, code = cli(t, nil, "isolation", "torrc", "--policy", "../isolation/testdata/bad/unknown-port.yaml")
		if code != 1 || !strings.Contains(stderr, "unknown-port.yaml:6: app mail: unknown port") {
			t.Errorf("bad policy: exit %d, %s", code, stderr)
		}
		// The daemon refuses it before it starts anything.
		state := filepath.Join(t.TempDir(), "state")
		_, stderr, code = cli(t, nil, "daemon", "--state", state, "--network", "testnet", "--testnet-dir", requireNet(t).Dir,
			"--socket", filepath.Join(t.TempDir(), "api.sock"), "--isolation-policy", "../isolation/testdata/bad/port-twice.yaml")
		if code != 1 || !strings.Contains(stderr, "port-twice.yaml:4: port other: port number 9050 is used twice") {
			t.Errorf("daemon with a bad policy: exit %d, %s", code, stderr)
		}
		if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the refused daemon left %s behind", state)
		}
	})

	c := startIsoClient(t)
	ctl := c.tor.ControlAddr
	t.Run("policy-not-exposed", func(t *testing.T) {
		// The daemon, attached in system mode with a policy shifted
		// where this tor has nothing, says which ports it lacks.
		tmp := t.TempDir()
		socket := filepath.Join(tmp, "api.sock")
		d := &daemon{t: t, state: filepath.Join(tmp, "state"), socket: socket, log: &syncBuffer{}}
		torReachable(t, d.state)
		d.cmd = exec.Command(bin, "daemon", "--firewall-table", firewallTable(d.state), "--state", d.state, "--volatile-dir", d.state+"-volatile",
			"--network", "system", "--tor-control", ctl, "--socket", socket, "--gui-listen", "off",
			"--isolation-port-offset", strconv.Itoa(c.offset+7))
		d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
		if err := d.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.stop)
		cl := client.New(socket)
		var p apitype.IsolationPolicy
		waitFor(t, 60*time.Second, "the daemon's isolation check", func() error {
			var err error
			p, err = cl.IsolationPolicy(context.Background())
			if err == nil && !p.Checked {
				err = errors.New("not checked yet")
			}
			return err
		})
		if len(p.Missing) != 6 || !strings.Contains(p.Missing[0], "port default (SocksPort 127.0.0.1:"+strconv.Itoa(9057+c.offset)+"): tor does not listen") {
			t.Errorf("missing: %q", p.Missing)
		}
		waitFor(t, 10*time.Second, "the daemon's warning", func() error {
			if !strings.Contains(d.log.String(), "isolation: tor lacks part of the policy") {
				return errors.New("no warning logged")
			}
			return nil
		})
		// The same check through the daemon with the right offset is in
		// TestIsolationDaemon; the audit says it too.
		aud := startAudit(t, "--control", ctl, "--port-offset", strconv.Itoa(c.offset+7))
		waitFor(t, 20*time.Second, "the audit's start", func() error {
			if c.log.probeCount() < 5 {
				return errors.New("no probes yet")
			}
			return nil
		})
		r, _ := aud.stop(t)
		if !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, "does not expose port browser") }) {
			t.Errorf("audit notes: %q", r.Notes)
		}
	})
	t.Run("control-drop", func(t *testing.T) {
		fwd := newForwarder(t, ctl)
		before := c.log.probeCount()
		aud := startAudit(t, "--control", fwd.addr(), "--cookie", c.tor.CookiePath, "--port-offset", strconv.Itoa(c.offset))
		waitFor(t, 30*time.Second, "the audit's probes", func() error {
			if c.log.probeCount() < before+5 {
				return errors.New("no probes yet")
			}
			return nil
		})
		fwd.cut()
		// It reconnects (and probes again) by itself.
		waitFor(t, 30*time.Second, "the audit's reconnection", func() error {
			if c.log.probeCount() < before+10 {
				return errors.New("no new probes yet")
			}
			return nil
		})
		s := c.open(t, "chat", "", c.dests[1])
		r, code := aud.stop(t)
		stderr := aud.stderr.String()
		if !strings.Contains(stderr, "control connection to tor lost") || !strings.Contains(stderr, "reconnected to tor's control port") {
			t.Errorf("the audit did not say it reconnected: %s", stderr)
		}
		if code != 0 || !slices.ContainsFunc(r.Streams, func(a apitype.AuditStream) bool {
			return a.ID == s.id && a.Port == "default" && slices.Contains(a.Circuits, s.circ)
		}) {
			t.Errorf("after reconnecting, the audit (exit %d) lacks stream %+v: %+v", code, s, r.Streams)
		}
	})
}

// forwarder relays TCP connections to a target, and can cut them all.
type forwarder struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func newForwarder(t *testing.T, target string) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); f.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, u)
			f.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	return f
}

func (f *forwarder) addr() string { return f.ln.Addr().String() }

func (f *forwarder) cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

// TestIsolationPortHeld: when another program holds one of the policy's
// ports, the daemon's status says which and what to do, and tor comes up
// by itself once the port is free.
func TestIsolationPortHeld(t *testing.T) {
	requireNet(t)
	off := freeOffset(t, isolation.Default())
	addr := fmt.Sprintf("127.0.0.1:%d", 9050+off)
	held, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	tmp := t.TempDir()
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"), "--gui-listen", "off", "--isolation-port-offset", strconv.Itoa(off))
	waitFor(t, 30*time.Second, "status naming the held port", func() error {
		st := d.status().Tor
		if st.State != "down" || !strings.Contains(st.Summary, "Could not bind to "+addr) || !strings.Contains(st.Summary, "--isolation-port-offset") {
			return fmt.Errorf("tor %s: %q", st.State, st.Summary)
		}
		return nil
	})
	held.Close()
	waitFor(t, 90*time.Second, "tor ready once the port is free", func() error {
		if st := d.status().Tor; st.State != "ready" {
			return fmt.Errorf("tor %s: %q", st.State, st.Summary)
		}
		return nil
	})
}

// TestIsolationDaemon: a testnet daemon started with a port offset runs
// its tor with the policy's ports, and audits through its API.
func TestIsolationDaemon(t *testing.T) {
	requireNet(t)
	p := isolation.Default()
	off := freeOffset(t, p)
	tmp := t.TempDir()
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"), "--gui-listen", "off", "--isolation-port-offset", strconv.Itoa(off))
	cl := client.New(d.socket)
	var pol apitype.IsolationPolicy
	waitFor(t, 90*time.Second, "the daemon's tor with the policy's ports", func() error {
		var err error
		pol, err = cl.IsolationPolicy(context.Background())
		if err == nil && !pol.Checked {
			err = errors.New("not checked yet")
		}
		return err
	})
	if !pol.InTorrc || len(pol.Missing) != 0 || len(pol.Ports) != 6 {
		t.Fatalf("policy: in torrc %v, missing %q, %d ports", pol.InTorrc, pol.Missing, len(pol.Ports))
	}
	for _, pt := range pol.Ports {
		if pt.Exposed == nil || !*pt.Exposed {
			t.Errorf("port %s (%s) not exposed", pt.Name, pt.Addr)
		}
	}
	// The CLI lists the apps where the daemon's tor opened their ports
	// (the daemon's offset), as the GUI does.
	appsOut, appsErr, appsCode := d.cli("isolation", "apps", "-o", "json")
	var apps apitype.IsolationPolicy
	if appsCode != 0 || appsErr != "" || json.Unmarshal([]byte(appsOut), &apps) != nil || apps.Offset != off || len(apps.Apps) != len(p.AppNames()) {
		t.Errorf("isolation apps with a daemon at offset %d: exit %d, %s %s", off, appsCode, appsOut, appsErr)
	}
	for _, a := range apps.Apps {
		if want, _ := p.SocksAddr(a.Name, off); a.Addr != want {
			t.Errorf("isolation apps: app %s at %s, the daemon's tor opened %s", a.Name, a.Addr, want)
		}
	}
	srv := startDest(t, "dest-a")
	// Follow the daemon's audit while a stream crosses the browser port.
	var mu sync.Mutex
	var events []apitype.IsolationAuditEvent
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cl.FollowIsolationAudit(ctx, 10*time.Minute, func(ev apitype.IsolationAuditEvent) {
			mu.Lock()
			events = append(events, ev)
			mu.Unlock()
		})
	}()
	waitFor(t, 30*time.Second, "the daemon's audit to start", func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range events {
			if strings.HasPrefix(ev.Note, isolation.ReadyNote) {
				return nil
			}
		}
		return errors.New("not yet")
	})
	addr, _ := p.SocksAddr("browser", off)
	waitFor(t, 90*time.Second, "a stream through the daemon's browser port", func() error {
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		conn, err := socks.Dial(cctx, addr, net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.port)), &socks.Auth{Username: "site-d", Password: "x"})
		if err != nil {
			return err
		}
		defer conn.Close()
		b, _ := io.ReadAll(bufio.NewReader(conn))
		if !bytes.Contains(b, []byte("hello from dest-a")) {
			return fmt.Errorf("answer %q", b)
		}
		return nil
	})
	waitFor(t, 30*time.Second, "the stream in the daemon's audit", func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range events {
			if ev.Stream != nil && ev.Stream.Port == "browser" && ev.Stream.Username == "site-d" {
				return nil
			}
		}
		return fmt.Errorf("%d events, none for the stream", len(events))
	})
	cancel()
	<-done
	// A snapshot report over the API.
	out, stderr, code := d.cli("isolation", "audit", "--for", "2s", "-o", "json")
	var r apitype.IsolationAudit
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || len(r.Ports) < 4 {
		t.Errorf("isolation audit --for 2s via the daemon: exit %d, %s %s", code, out, stderr)
	}
}

package e2e

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/testenv"
)

// enableConcurrently enables the services at once (each `enable --wait` through
// the CLI, as a user would) and fails if one does not become reachable.
func enableConcurrently(t *testing.T, d *daemon, names ...string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]string, len(names))
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, errOut, code := cli(t, []string{"TAILS_SERVER_SOCKET=" + d.socket}, "enable", n, "--wait", "300s")
			if code != 0 || !strings.Contains(out, "reachable: true") {
				errs[i] = fmt.Sprintf("enable %s: exit %d\n%s%s", n, code, out, errOut)
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Fatalf("%s\ndaemon log:\n%s", e, d.log)
		}
	}
}

// listener is one listening socket of the daemon's process tree.
type listener struct {
	Proto string // tcp, tcp6, udp, udp6
	IP    net.IP
	Port  int
	PID   int
	Owner string // daemon, tor#N, checker, backend:SERVICE, or the program's name
}

// processTree returns root and every process descended from it.
func processTree(root int) []int {
	parent := map[int]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(dir))
		b, err := os.ReadFile(dir + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parens.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 {
			parent[pid], _ = strconv.Atoi(f[1])
		}
	}
	var tree []int
	for pid := range parent {
		for p := pid; p > 1; p = parent[p] {
			if p == root {
				tree = append(tree, pid)
				break
			}
		}
	}
	sort.Ints(tree)
	return tree
}

// socketInodes returns the inodes of the sockets pid holds open.
func socketInodes(pid int) []string {
	var in []string
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:[") {
			in = append(in, strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]"))
		}
	}
	return in
}

// listeners returns the listening TCP sockets and bound UDP sockets of
// pids (as `ss -Hltnup` shows them), named by owner(pid).
func listeners(t *testing.T, pids []int, owner func(int) string) []listener {
	t.Helper()
	byInode := map[string]int{}
	for _, pid := range pids {
		for _, in := range socketInodes(pid) {
			if _, ok := byInode[in]; !ok {
				byInode[in] = pid
			}
		}
	}
	var ls []listener
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		b, err := os.ReadFile("/proc/net/" + proto)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 {
				continue
			}
			pid, ok := byInode[f[9]]
			if !ok || (strings.HasPrefix(proto, "tcp") && f[3] != "0A") {
				continue
			}
			ip, port := parseProcAddr(t, f[1])
			ls = append(ls, listener{Proto: proto, IP: ip, Port: port, PID: pid, Owner: owner(pid)})
		}
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Port < ls[j].Port })
	return ls
}

// unixListener is one listening unix socket of the daemon's process tree.
type unixListener struct {
	Path  string // "@name" for an abstract socket
	PID   int
	Owner string
}

// unixListeners returns the named listening unix sockets of pids, from
// /proc/net/unix (as `ss -Hlxp` shows them).
func unixListeners(t *testing.T, pids []int, owner func(int) string) []unixListener {
	t.Helper()
	byInode := map[string]int{}
	for _, pid := range pids {
		for _, in := range socketInodes(pid) {
			byInode[in] = pid
		}
	}
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		t.Fatal(err)
	}
	var ls []unixListener
	for _, line := range strings.Split(string(b), "\n")[1:] {
		// Num RefCount Protocol Flags Type St Inode Path; flag 00010000 is
		// __SO_ACCEPTCON, a listening socket.
		f := strings.Fields(line)
		if len(f) < 8 || f[3] != "00010000" {
			continue
		}
		if pid, ok := byInode[f[6]]; ok {
			ls = append(ls, unixListener{Path: f[7], PID: pid, Owner: owner(pid)})
		}
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Path < ls[j].Path })
	return ls
}

// unixReachableAsNobody reports whether nobody connects to the socket:
// curl exits 7 when it cannot connect, with anything else once it could.
func unixReachableAsNobody(l unixListener) bool {
	flag, path := "--unix-socket", l.Path
	if strings.HasPrefix(path, "@") {
		flag, path = "--abstract-unix-socket", path[1:]
	}
	err := asNobody("curl", "-s", "-o", "/dev/null", "--max-time", "4", flag, path, "http://probe/").Run()
	var ee *exec.ExitError
	return !(errors.As(err, &ee) && ee.ExitCode() == 7)
}

// parseProcAddr decodes /proc/net/tcp's "0100007F:1F90" (each 32-bit word
// of the address in host byte order, little-endian here).
func parseProcAddr(t *testing.T, s string) (net.IP, int) {
	t.Helper()
	h, p, _ := strings.Cut(s, ":")
	raw, err := hex.DecodeString(h)
	if err != nil {
		t.Fatalf("address %q: %v", s, err)
	}
	for i := 0; i+4 <= len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, err := strconv.ParseInt(p, 16, 32)
	if err != nil {
		t.Fatalf("port %q: %v", s, err)
	}
	return net.IP(raw), int(port)
}

// lanNamespace is a network namespace joined to the host by a veth pair on
// a private /30 that exists only between the two ends: the other machines
// of a LAN, as far as the host's firewall can tell.
type lanNamespace struct {
	name, hostIP string
}

func newLANNamespace(t *testing.T) *lanNamespace {
	t.Helper()
	testenv.RequireProgram(t, "ip")
	var r [2]byte
	rand.Read(r[:])
	tag := hex.EncodeToString(r[:])
	ns := &lanNamespace{name: "tsexp-" + tag}
	// 10.213.X.Y/30, X and Y from the tag: a subnet no real network here
	// uses (checked against the host's routes below).
	third, fourth := int(r[0]), int(r[1])&0xfc
	ns.hostIP = fmt.Sprintf("10.213.%d.%d", third, fourth+1)
	lanIP := fmt.Sprintf("10.213.%d.%d", third, fourth+2)
	if out, _ := exec.Command("ip", "-4", "route", "get", lanIP).CombinedOutput(); !strings.Contains(string(out), "via") && strings.Contains(string(out), " dev ") {
		t.Fatalf("%s is already on a link of this machine:\n%s", lanIP, out)
	}
	host, lan := "tsxh"+tag, "tsxl"+tag
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("ip", "netns", "add", ns.name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns.name).Run() })
	run("ip", "link", "add", host, "type", "veth", "peer", "name", lan, "netns", ns.name)
	t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
	run("ip", "addr", "add", ns.hostIP+"/30", "dev", host)
	run("ip", "link", "set", host, "up")
	run("ip", "netns", "exec", ns.name, "ip", "addr", "add", lanIP+"/30", "dev", lan)
	run("ip", "netns", "exec", ns.name, "ip", "link", "set", lan, "up")
	run("ip", "netns", "exec", ns.name, "ip", "link", "set", "lo", "up")
	// The probe of the allow-lan port proves the link carries traffic;
	// here, wait for both ends to be up.
	waitFor(t, 20*time.Second, "veth link up", func() error {
		out, err := exec.Command("ip", "netns", "exec", ns.name, "ip", "-o", "link", "show", lan).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "LOWER_UP") {
			return fmt.Errorf("%s: %v %s", lan, err, out)
		}
		return nil
	})
	return ns
}

// tcpProbe is the command line of a bash connect to ip:port within 4 s;
// it exits 0 when the connection opened.
func tcpProbe(ip string, port int) []string {
	return []string{"timeout", "4", "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%d", ip, port)}
}

// reachable reports whether a process in the LAN namespace opens a
// TCP connection to the host's veth address on port.
func (ns *lanNamespace) reachable(port int) bool {
	return exec.Command("ip", append([]string{"netns", "exec", ns.name}, tcpProbe(ns.hostIP, port)...)...).Run() == nil
}

// asNobody runs a command as uid and gid nobody, without groups.
func asNobody(args ...string) *exec.Cmd {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: testenv.Nobody, Gid: testenv.Nobody, NoSetGroups: true}}
	return cmd
}

// reachableAsNobody reports whether nobody opens a TCP connection to
// l over loopback.
func reachableAsNobody(l listener) bool {
	ip := "127.0.0.1"
	if l.IP.To4() == nil {
		ip = "::1"
	}
	if !l.IP.IsUnspecified() {
		ip = l.IP.String()
	}
	return asNobody(tcpProbe(ip, l.Port)...).Run() == nil
}

// torControl asks port PROTOCOLINFO: ok is false when it is no tor
// control port; methods and cookie are what it says about authentication.
func torControl(port int) (ok bool, methods, cookie string) {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 4*time.Second)
	if err != nil {
		return false, "", ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(4 * time.Second))
	fmt.Fprint(c, "PROTOCOLINFO 1\r\n")
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "250-AUTH METHODS=") {
			ok = true
			f := strings.Fields(strings.TrimPrefix(l, "250-AUTH "))
			for _, kv := range f {
				if k, v, _ := strings.Cut(kv, "="); k == "METHODS" {
					methods = v
				} else if k == "COOKIEFILE" {
					cookie, _ = strconv.Unquote(v)
				}
			}
		}
		if strings.HasPrefix(l, "250 ") || strings.HasPrefix(l, "5") {
			break
		}
	}
	return ok, methods, cookie
}

// TestExposure is issue 12's exposure campaign: a daemon with the
// firewall on and several services, one with allow-lan on and two with
// allow-localhost off; every socket the daemon, its tors and its backends
// listen on is tried from another network namespace (the LAN) and as the
// local user nobody, and each answer is held against what the port is
// for. Figure: "reachable where not chosen: N" (goal 0).
//
// It takes about 20 s, so make test runs it too.
func TestExposure(t *testing.T) {
	requireNet(t)
	testenv.RequireRoot(t, "network namespaces, nftables and the user nobody")
	for _, p := range []string{"ip", "nft", "bash", "timeout", "curl", "lighttpd", "ngircd", "infinoted", "murmurd"} {
		testenv.RequireProgram(t, p)
	}
	tmp := backendTempDir(t)
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))
	ns := newLANNamespace(t)

	services := []string{"web", "fileshare", "lighttpd", "irc", "gobby", "mumble"}
	// What the user chose: fileshare on the LAN, irc, lighttpd and mumble
	// closed to other local users; the rest keep the defaults (allow-lan off,
	// allow-localhost on).
	allowLAN := map[string]bool{"fileshare": true}
	allowLocal := map[string]bool{"web": true, "fileshare": true, "gobby": true}
	for n := range allowLAN {
		d.mustCLI("set-option", n, "allow-lan", "true")
	}
	for _, n := range services {
		if !allowLocal[n] {
			d.mustCLI("set-option", n, "allow-localhost", "false")
		}
	}
	enableConcurrently(t, d, services...)

	st := d.status()
	tors := map[int]string{}
	for i, tr := range append([]apitype.Tor{st.Tor}, st.MoreTors...) {
		if tr.PID != 0 {
			tors[tr.PID] = fmt.Sprintf("tor#%d", i+1)
		}
	}
	if st.Checker != nil && st.Checker.PID != 0 {
		tors[st.Checker.PID] = "checker"
	}
	backendOf := map[int]string{}   // backend pid -> service
	servicePort := map[int]string{} // a service's local port -> service
	for _, n := range services {
		s := d.service(n)
		if s.Details == nil {
			t.Fatalf("info --details %s: no details", n)
		}
		if b := s.Details.Backend; b != nil && b.PID != 0 {
			backendOf[b.PID] = n
		}
		if _, p, err := net.SplitHostPort(s.Details.LocalAddress); err == nil {
			port, _ := strconv.Atoi(p)
			servicePort[port] = n
		}
	}
	pids := processTree(st.PID)
	parentOf := func(pid int) int {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			return 0
		}
		p, _ := strconv.Atoi(f[1])
		return p
	}
	owner := func(pid int) string {
		for p := pid; p > 1; p = parentOf(p) {
			if p == st.PID {
				return "daemon"
			}
			if n, ok := tors[p]; ok {
				return n
			}
			if n, ok := backendOf[p]; ok {
				return "backend:" + n
			}
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		return strings.TrimSpace(string(comm))
	}
	ls := listeners(t, pids, owner)
	if len(ls) == 0 {
		t.Fatal("no listening socket in the daemon's process tree")
	}
	guiPort := 0
	if _, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimSuffix(guiURL(t, d), "/"), "http://")); err == nil {
		guiPort, _ = strconv.Atoi(p)
	}

	type row struct {
		l                    listener
		what                 string
		lan, local           string // observed
		wantLAN, wantLocal   string // expected
		exposedLAN, exposedL bool
	}
	var rows []row
	exposures := 0
	sawLAN, sawLocalOpen, sawLocalClosed := false, false, false
	for _, l := range ls {
		r := row{l: l, wantLAN: "no", wantLocal: "no"}
		svc, isSvc := servicePort[l.Port]
		switch {
		case isSvc:
			r.what = "backend of " + svc
			if allowLAN[svc] {
				r.wantLAN = "yes (allow-lan)"
			}
			if allowLocal[svc] {
				r.wantLocal = "yes (allow-localhost)"
			}
		case strings.HasPrefix(l.Owner, "backend:"):
			// A further port of a backend: it must follow the service's
			// choices as its main port does.
			svc = strings.TrimPrefix(l.Owner, "backend:")
			r.what = "other port of " + svc
			if allowLocal[svc] {
				r.wantLocal = "yes (allow-localhost)"
			}
		case l.Owner == "daemon" && l.Port == guiPort:
			r.what = "GUI"
			r.wantLocal = "yes (behind its login)"
		case strings.HasPrefix(l.Owner, "tor") || l.Owner == "checker":
			if ok, methods, cookie := torControl(l.Port); ok {
				r.what = "tor control"
				r.wantLocal = "authenticated"
				if !strings.Contains(methods, "COOKIE") || strings.Contains(methods, "NULL") {
					t.Errorf("%s control port %d: AUTH METHODS=%s, want cookie authentication only", l.Owner, l.Port, methods)
					exposures++
				}
				if cookie != "" && asNobody("cat", cookie).Run() == nil {
					t.Errorf("%s control port %d: nobody reads the cookie %s", l.Owner, l.Port, cookie)
					exposures++
				}
			} else {
				r.what = "tor SOCKS (no credential)"
				r.wantLocal = "yes (tor's SOCKS, as the system tor's)"
			}
		default:
			r.what = "unknown"
		}
		if strings.HasPrefix(l.Proto, "udp") {
			// No probe: a UDP socket answers nothing to a stranger
			// (mumble's, the only one, has allowping=false and takes
			// voice only from a client of an authenticated TCP
			// session), so it is exposed by its address alone. Note
			// the firewall's loopback rule is TCP only.
			r.lan, r.local = "n/a", "n/a"
			if !l.IP.IsLoopback() && !strings.HasPrefix(r.wantLAN, "yes") {
				r.lan, r.exposedLAN = "bound to "+l.IP.String(), true
			}
		} else {
			lan := ns.reachable(l.Port)
			local := reachableAsNobody(l)
			r.lan, r.local = yesNo(lan), yesNo(local)
			r.exposedLAN = lan && !strings.HasPrefix(r.wantLAN, "yes")
			r.exposedL = local && r.wantLocal == "no"
			if lan && strings.HasPrefix(r.wantLAN, "yes") {
				sawLAN = true
			}
			if isSvc && local && allowLocal[svc] {
				sawLocalOpen = true
			}
			if isSvc && !local && !allowLocal[svc] {
				sawLocalClosed = true
			}
			if !lan && strings.HasPrefix(r.wantLAN, "yes") {
				t.Errorf("port %d (%s) has allow-lan on but the LAN namespace cannot connect: the probe proves nothing", l.Port, r.what)
			}
		}
		if r.exposedLAN {
			exposures++
			t.Errorf("EXPOSED: %s port %d (%s, %s) reachable from the LAN, not chosen", l.Proto, l.Port, r.what, l.Owner)
		}
		if r.exposedL {
			exposures++
			t.Errorf("EXPOSED: %s port %d (%s, %s) reachable by nobody, not chosen", l.Proto, l.Port, r.what, l.Owner)
		}
		rows = append(rows, r)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%-5s %-22s %-6s %-16s %-28s %-8s %-8s %s\n", "proto", "address", "pid", "owner", "port", "LAN ns", "nobody", "expected (LAN / nobody)")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-5s %-22s %-6d %-16s %-28s %-8s %-8s %s / %s\n", r.l.Proto,
			net.JoinHostPort(r.l.IP.String(), strconv.Itoa(r.l.Port)), r.l.PID, r.l.Owner, r.what, r.lan, r.local, r.wantLAN, r.wantLocal)
	}
	// Unix sockets: the API's is for root and its group, the checker's
	// SOCKS socket for root and tor's user; a network namespace cannot
	// reach them, nobody must not either.
	uls := unixListeners(t, pids, owner)
	if len(uls) == 0 {
		t.Fatal("no listening unix socket in the daemon's process tree (its API socket at least)")
	}
	fmt.Fprintf(&b, "\n%-60s %-6s %-10s %-8s %s\n", "unix socket", "pid", "owner", "nobody", "expected")
	for _, l := range uls {
		reach := unixReachableAsNobody(l)
		fmt.Fprintf(&b, "%-60s %-6d %-10s %-8s no\n", l.Path, l.PID, l.Owner, yesNo(reach))
		if reach {
			exposures++
			t.Errorf("EXPOSED: unix socket %s (%s) reachable by nobody", l.Path, l.Owner)
		}
	}
	t.Logf("listening sockets of the daemon (pid %d), its tors and its backends:\n%s", st.PID, b.String())
	fmt.Printf("exposure: %d TCP/UDP and %d unix listening sockets probed from LAN namespace %s (host %s) and as nobody\n", len(rows), len(uls), ns.name, ns.hostIP)
	fmt.Printf("exposure: reachable where not chosen: %d\n", exposures)

	// The probes prove something: the allow-lan port answered the LAN,
	// an allow-localhost port answered nobody, and an allow-localhost=false
	// port refused nobody.
	if !sawLAN || !sawLocalOpen || !sawLocalClosed {
		t.Errorf("the probes are not proven: LAN reached an allow-lan port %v, nobody reached an allow-localhost port %v, nobody refused at an allow-localhost=false port %v",
			sawLAN, sawLocalOpen, sawLocalClosed)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// guiURL returns the GUI's address, as `tails-server gui` prints it.
func guiURL(t *testing.T, d *daemon) string {
	t.Helper()
	out := d.mustCLI("gui", "--no-open", "-o", "json")
	var l struct{ File, URL string }
	if err := json.Unmarshal([]byte(out), &l); err != nil || l.URL == "" {
		t.Fatalf("tails-server gui printed no GUI address (%v):\n%s", err, out)
	}
	return l.URL
}

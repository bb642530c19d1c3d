// Package confine puts a desktop application in a network namespace of
// its own whose only way out is its own Tor listeners, as Tails does for
// its browser: namespace ts-APP, a veth pair ts-hN (host) / ts-nN (inside)
// with one address each, the inside's loopback up, no route beyond the
// veth, and nftables rules on both sides (see HostRuleset and NSRuleset).
// Tor listens on the host side's address, which the daemon keeps on the
// host's loopback (label lo:tsN) for tor's whole life, so that tor can
// bind it at start whether or not the namespace exists.
//
// The Manager counts the programs using each namespace: the first one
// creates it, the last one to exit removes it (namespace, veth, tables,
// /etc/netns/ts-APP). Cleanup removes what a crashed daemon left: every
// namespace named ts-*, link named ts-h*/ts-n*, host table named
// ts_confine_*, directory /etc/netns/ts-*; names no other software uses.
//
// It drives Debian's `ip` (iproute2) and `nft` commands, as
// internal/firewall does for nftables, rather than netlink: no new module,
// the rules are short readable text applied in one nft transaction per
// side, and an administrator sees the same objects with `ip netns`,
// `ip link` and `nft list ruleset`. A setup costs a handful of short
// commands (measured by the benchmarks in scripts/bench.sh).
//
// Programs start as the caller: Direct and StartIn fork one from a
// daemon thread moved into the namespace (SOCKS-only mode), Command goes
// through `ip netns exec` and setpriv (transparent mode, for the
// namespace's resolv.conf).
package confine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Names the package owns.
const (
	// Prefix begins every namespace and link name.
	Prefix = "ts-"
	// TablePrefix begins every host table's name.
	TablePrefix = "ts_confine_"
)

// EtcNetns is where `ip netns exec` finds the files it binds over /etc
// in a namespace (resolv.conf).
var EtcNetns = "/etc/netns"

// Manager creates, shares and removes the namespaces.
type Manager struct {
	// IP and Nft are the programs (default "ip" and "nft").
	IP, Nft string

	mu     sync.Mutex
	active map[string]*entry
}

type entry struct {
	spec Spec
	refs int
}

func (m *Manager) ip() string {
	if m.IP == "" {
		return "ip"
	}
	return m.IP
}

func (m *Manager) nft() string {
	if m.Nft == "" {
		return "nft"
	}
	return m.Nft
}

// InUseError says the namespace exists in another mode.
type InUseError struct {
	App         string
	Transparent bool
}

func (e *InUseError) Error() string {
	mode := "SOCKS-only"
	if e.Transparent {
		mode = "transparent"
	}
	return fmt.Sprintf("app %s is already confined in %s mode by a running program: run this one in the same mode, or once that program has exited", e.App, mode)
}

// Acquire creates the namespace of s (or shares it while it exists) and
// returns the function to call once the program in it has exited; the
// last call removes it. Nothing is left half-configured: a failed setup
// is undone.
func (m *Manager) Acquire(ctx context.Context, s Spec) (release func(), err error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active == nil {
		m.active = map[string]*entry{}
	}
	e := m.active[s.App]
	if e != nil {
		if e.spec != s {
			return nil, &InUseError{App: s.App, Transparent: e.spec.Transparent}
		}
	} else {
		if err := m.create(ctx, s); err != nil {
			m.remove(context.WithoutCancel(ctx), s)
			return nil, err
		}
		e = &entry{spec: s}
		m.active[s.App] = e
	}
	e.refs++
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if e.refs--; e.refs == 0 {
				delete(m.active, s.App)
				m.remove(context.Background(), s)
			}
		})
	}, nil
}

// InUse returns the namespaces in use and their program counts.
func (m *Manager) InUse() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for app, e := range m.active {
		out[app] = e.refs
	}
	return out
}

func (m *Manager) create(ctx context.Context, s Spec) error {
	hr, err := HostRuleset(s)
	if err != nil {
		return err
	}
	nr, err := NSRuleset(s)
	if err != nil {
		return err
	}
	// The host's table names the veth by name: it can go in while the
	// namespace is made.
	hostRules := make(chan error, 1)
	go func() { hostRules <- m.run(ctx, hr, m.nft(), "-f", "-") }()
	err = m.setupLinks(ctx, s)
	if err == nil {
		err = m.runIn(ctx, s.Namespace(), nr, m.nft(), "-f", "-")
	}
	if herr := <-hostRules; err == nil {
		err = herr
	}
	if err != nil {
		return err
	}
	// resolv.conf inside: `ip netns exec` binds it over /etc/resolv.conf.
	dir := filepath.Join(EtcNetns, s.Namespace())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("# written by tails-server: DNS goes to tor's DNSPort (transparent mode)\nnameserver "+s.Host.String()+"\n"), 0o644)
}

// setupLinks makes the namespace, the veth pair, addresses and routes.
func (m *Manager) setupLinks(ctx context.Context, s Spec) error {
	ns, h, n := s.Namespace(), s.HostLink(), s.NSLink()
	host := []string{
		"netns add " + ns,
		fmt.Sprintf("link add %s type veth peer name %s netns %s", h, n, ns),
		fmt.Sprintf("link set %s addrgenmode none", h),
		fmt.Sprintf("link set %s up", h),
		fmt.Sprintf("route replace %s/32 dev %s src %s", s.NS, h, s.Host),
	}
	if err := m.batch(ctx, "", host); err != nil {
		return err
	}
	inside := []string{
		"link set lo up",
		fmt.Sprintf("link set %s addrgenmode none", n),
		fmt.Sprintf("addr add %s peer %s dev %s", s.NS, s.Host, n),
		fmt.Sprintf("link set %s up", n),
	}
	if s.Transparent {
		inside = append(inside, fmt.Sprintf("route add default via %s dev %s", s.Host, n))
	}
	return m.batch(ctx, ns, inside)
}

// remove undoes create, as far as it went: every step is tried.
func (m *Manager) remove(ctx context.Context, s Spec) {
	m.killIn(ctx, s.Namespace())
	// The namespace's end goes with the namespace, and takes the host's
	// (which is deleted too, in case it did not).
	m.run(ctx, "netns del "+s.Namespace()+"\nlink del "+s.HostLink()+"\n", m.ip(), "-force", "-batch", "-")
	os.RemoveAll(filepath.Join(EtcNetns, s.Namespace()))
	m.run(ctx, fmt.Sprintf("table inet %s\ndelete table inet %s\n", s.HostTable(), s.HostTable()), m.nft(), "-f", "-")
}

// removeNamespace kills what still runs in the namespace (a program's
// children that outlived it, or orphans of a crash), then deletes it
// and its /etc/netns directory; its veth end goes with it.
func (m *Manager) removeNamespace(ctx context.Context, ns string) {
	if !strings.HasPrefix(ns, Prefix) || strings.ContainsAny(ns, "/.") {
		return
	}
	m.killIn(ctx, ns)
	m.run(ctx, "", m.ip(), "netns", "del", ns)
	os.RemoveAll(filepath.Join(EtcNetns, ns))
}

// killIn kills every process in namespace ns.
func (m *Manager) killIn(ctx context.Context, ns string) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, m.ip(), "netns", "pids", ns)
	cmd.Stdout = &out
	if cmd.Run() == nil {
		for _, f := range strings.Fields(out.String()) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
				if p, err := os.FindProcess(pid); err == nil {
					p.Kill()
				}
			}
		}
	}
}

// batch runs ip commands, in namespace ns if not empty, as one `ip -batch`.
func (m *Manager) batch(ctx context.Context, ns string, lines []string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	return m.run(ctx, strings.Join(lines, "\n")+"\n", m.ip(), args...)
}

func (m *Manager) run(ctx context.Context, stdin, prog string, args ...string) error {
	return m.runCmd(exec.CommandContext(ctx, prog, args...), stdin, "")
}

// runIn runs prog inside namespace ns (forked from a thread moved there:
// no `ip netns exec`, whose mount namespace it does not need).
func (m *Manager) runIn(ctx context.Context, ns, stdin, prog string, args ...string) error {
	return m.runCmd(exec.CommandContext(ctx, prog, args...), stdin, ns)
}

func (m *Manager) runCmd(cmd *exec.Cmd, stdin, ns string) error {
	prog, args := cmd.Path, cmd.Args[1:]
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	var err error
	if cmd.Err != nil {
		err = cmd.Err
	} else if ns != "" {
		if err = startIn(ns, cmd, false); err == nil {
			err = cmd.Wait()
		}
	} else {
		err = cmd.Run()
	}
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return missing(prog)
		}
		return fmt.Errorf("%s %s: %s", filepath.Base(prog), strings.Join(args, " "), firstLine(errb.String(), err))
	}
	return nil
}

func missing(prog string) error {
	pkg := "iproute2"
	if filepath.Base(prog) == "nft" {
		pkg = "nftables"
	}
	return fmt.Errorf("%s not found: install Debian's %s (apt-get install %s)", prog, pkg, pkg)
}

func firstLine(s string, err error) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return err.Error()
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// HostAddrLabel is the label of the listener address idx on loopback.
func HostAddrLabel(idx int) string { return fmt.Sprintf("lo:ts%d", idx) }

// Prepare checks that confinement can work here (root, the kernel's
// network namespaces and nftables, ip and nft), that the range collides
// with no address or route of the host's but ours, and puts the
// listeners' addresses (index i+1 at hosts[i]) on loopback, where tor
// binds them.
func (m *Manager) Prepare(ctx context.Context, rng netip.Prefix, hosts []netip.Addr) error {
	if err := m.CheckKernel(ctx); err != nil {
		return err
	}
	if err := m.CheckRange(ctx, rng); err != nil {
		return err
	}
	var lines []string
	for i, h := range hosts {
		lines = append(lines, fmt.Sprintf("addr replace %s/32 dev lo label %s", h, HostAddrLabel(i+1)))
	}
	if len(lines) == 0 {
		return nil
	}
	return m.batch(ctx, "", lines)
}

// Unprepare takes the listeners' addresses off loopback (at shutdown).
func (m *Manager) Unprepare(ctx context.Context, hosts []netip.Addr) {
	for i, h := range hosts {
		m.run(ctx, "", m.ip(), "addr", "del", h.String()+"/32", "dev", "lo", "label", HostAddrLabel(i+1))
	}
}

// CheckKernel says, in one line, what confinement lacks here.
func (m *Manager) CheckKernel(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return errors.New("confined applications need the daemon to run as root (it creates network namespaces and nftables rules)")
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return errors.New("this kernel has no network namespaces (CONFIG_NET_NS): confined applications cannot run here")
	}
	for _, p := range []string{m.ip(), m.nft()} {
		if _, err := exec.LookPath(p); err != nil {
			return missing(p)
		}
	}
	var errb bytes.Buffer
	cmd := exec.CommandContext(ctx, m.nft(), "-c", "-f", "-")
	cmd.Stdin = strings.NewReader("table inet ts_confine_check {\n\tchain c {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t}\n}\n")
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("this kernel's nftables cannot hold the confinement rules (%s): load nf_tables and nft_nat, or use a kernel with them", firstLine(errb.String(), err))
	}
	return nil
}

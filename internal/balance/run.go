package balance

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tails-server/internal/store"
	"tails-server/internal/supervise"
	"tails-server/internal/tor"
	"tails-server/internal/torsup"
)

// RunUser is the system user that onionbalance and the front tor run as
// when the daemon is root: the one Debian's onionbalance package makes.
// It holds the master keys and nothing else of the daemon's; without it
// (an onionbalance from elsewhere) both run as the daemon's tor user and
// root.
const RunUser = "onionbalance"

// runAs returns the credential onionbalance runs with, nil for the
// daemon's own.
func runAs() *syscall.Credential {
	if os.Getuid() != 0 {
		return nil
	}
	u, err := user.Lookup(RunUser)
	if err != nil {
		return nil
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// logPath is a master's onionbalance log.
func (m *Manager) logPath(name string) string {
	return filepath.Join(m.opt.Dir, name+".onionbalance.log")
}

// socketDir holds the status sockets: onionbalance's own (0700).
func (m *Manager) socketDir() string { return filepath.Join(m.opt.RunDir, "ob") }

// socketPath is a master's status socket.
func (m *Manager) socketPath(name string) string {
	return filepath.Join(m.socketDir(), name+".sock")
}

// giveTo hands paths (made by the daemon, in its own directories) to
// cred's user, never following a symlink; nil cred keeps them.
func giveTo(cred *syscall.Credential, paths ...string) error {
	if cred == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Lchown(p, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	return nil
}

// ensureFront starts the front tor if it does not run. Call with m.mu
// held, after Start.
func (m *Manager) ensureFront() {
	if m.front != nil || m.ctx == nil {
		return
	}
	// Tor's user must reach its DataDirectory inside RunDir.
	if err := os.MkdirAll(m.opt.RunDir, 0o711); err != nil {
		m.log.Warn("balance: run dir", "err", err)
		return
	}
	os.Chmod(m.opt.RunDir, 0o711)
	cfg := m.opt.Tor
	if runAs() != nil {
		// The front tor's cookie is then onionbalance's to read.
		cfg.User = RunUser
	}
	cfg.DataDir = filepath.Join(m.opt.RunDir, "tor")
	cfg.JoinTorrc = frontJoin(cfg.JoinTorrc)
	cfg.Checker, cfg.IsolationTorrc, cfg.NetworkFrom = false, nil, nil
	cfg.Log = m.log.With("part", "balance-tor")
	cfg.Ready = m.frontReady
	m.front = torsup.New(cfg)
	go m.front.Run(m.ctx)
}

// frontJoin is the private network's join torrc without its
// UseMicrodescriptors 0: onionbalance reads the microdescriptor consensus.
func frontJoin(join []string) []string {
	var out []string
	for _, l := range join {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], "UseMicrodescriptors") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// frontReady runs after every (re)connection to the front tor: its
// control port may have moved, so every onionbalance starts again on it.
func (m *Manager) frontReady(ctx context.Context, c *tor.Conn) {
	info, err := c.GetInfo(ctx, "net/listeners/control", "net/listeners/socks")
	if err != nil {
		m.log.Warn("balance: asking the front tor for its ports", "err", err)
		return
	}
	control := firstListener(info["net/listeners/control"])
	socks := firstListener(info["net/listeners/socks"])
	m.mu.Lock()
	defer m.mu.Unlock()
	m.control, m.socks = control, socks
	for _, r := range m.recs {
		m.restart(r)
	}
}

func firstListener(v string) string {
	f := strings.Fields(v)
	if len(f) == 0 {
		return ""
	}
	return strings.Trim(f[0], `"`)
}

// restart (re)starts r's onionbalance with its instances, or stops it
// when it has none or the front tor is not ready (frontReady starts it
// then). Call with m.mu held.
func (m *Manager) restart(r *record) {
	if p := m.procs[r.Name]; p != nil {
		delete(m.procs, r.Name)
		p.Stop()
	}
	if len(r.Instances) == 0 || m.control == "" || m.ctx == nil || m.ctx.Err() != nil {
		return
	}
	host, port, err := net.SplitHostPort(m.control)
	if err != nil {
		m.log.Warn("balance: front tor control port", "addr", m.control, "err", err)
		return
	}
	cred := runAs()
	cfg := filepath.Join(m.dir(r.Name), "config.yaml")
	b, err := configFile{KeyPath: m.keyPath(r.Name), StatusSocket: m.socketPath(r.Name), Instances: r.Instances}.render()
	if err == nil {
		err = store.WriteFile(cfg, b, 0o600)
	}
	if err == nil {
		err = os.MkdirAll(m.socketDir(), 0o700)
	}
	if err == nil {
		// The state dir's balance/ is traversed to reach NAME/, which
		// is onionbalance's alone.
		os.Chmod(m.opt.Dir, 0o711)
		err = giveTo(cred, m.socketDir(), m.dir(r.Name), m.keyPath(r.Name), cfg)
	}
	if err != nil {
		m.log.Warn("balance: writing the config", "balance", r.Name, "err", err)
		return
	}
	argv := []string{m.opt.Binary, "--config", cfg, "--ip", host, "--port", port,
		// A path that never exists: without it, onionbalance tries
		// /var/run/tor/control first, the system tor's.
		"--socket", filepath.Join(m.opt.RunDir, "no-control-socket"),
		"--verbosity", "info"}
	if m.opt.Testnet {
		argv = append(argv, "--is-testnet")
	}
	p, err := supervise.Start(supervise.Spec{
		Name:       "onionbalance-" + r.Name,
		Argv:       argv,
		Credential: cred,
		Dir:        m.dir(r.Name),
		// Beside NAME/, not in it: NAME/ is onionbalance's user's, and
		// root never appends to a file that user could swap for a link.
		LogPath: m.logPath(r.Name),
	}, m.log.With("part", "balance", "balance", r.Name))
	if err != nil {
		m.log.Warn("balance: starting onionbalance", "balance", r.Name, "err", err)
		return
	}
	m.procs[r.Name] = p
	m.log.Info("onionbalance started", "balance", r.Name, "instances", len(r.Instances), "pid", p.Status().PID)
}

// processLine describes an onionbalance process for status.
func processLine(p *supervise.Process) string {
	if p == nil {
		return "not running"
	}
	st := p.Status()
	if !st.Running {
		s := "not running"
		if st.LastExit != "" {
			s += " (last exit: " + st.LastExit + ")"
		}
		return s
	}
	return fmt.Sprintf("running, pid %d, since %s, %d restarts", st.PID, st.Started.UTC().Format(time.RFC3339), st.Restarts)
}

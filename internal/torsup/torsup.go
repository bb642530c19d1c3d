// Package torsup keeps the daemon connected to a working tor. In the
// "testnet" and "public" network modes it launches its own tor with a torrc
// it generates, follows bootstrap, and restarts tor with backoff whenever it
// dies. In the "system" mode it attaches to an existing tor's control port or
// socket, never changes that tor's configuration, and reconnects when the
// connection drops. After every (re)connection it calls the Ready hook, so
// that the caller can re-add its onion services: onions added over a control
// connection die with it.
package torsup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/store"
	"tails-server/internal/tor"
)

// Network modes.
const (
	Testnet = "testnet"
	System  = "system"
	Public  = "public"
)

// MinTorVersion is the oldest tor the daemon works with: v3 client
// authorization over the control port (ONION_CLIENT_AUTH_*) and
// vanguards-lite for onion services.
const MinTorVersion = "0.4.8.1"

// Config says which tor to use and how.
type Config struct {
	Mode string
	// TorBinary is the tor to launch in testnet and public modes.
	TorBinary string
	// DataDir is the DataDirectory of the daemon's own tor; SetDataDir
	// changes it for the next launch.
	DataDir string
	// JoinTorrc holds the lines with which the daemon's own tor joins the
	// private network (testnet mode only).
	JoinTorrc []string
	// Control is the control port ("127.0.0.1:9051") or socket path of
	// the system tor (system mode only).
	Control string
	// Password is the control password of the system tor, if it uses
	// HASHEDPASSWORD authentication.
	Password string
	// IsolationTorrc holds the stream isolation policy's listener lines
	// (SocksPort, TransPort, DNSPort) for the daemon's own tor; they come
	// after its own SOCKS port, which stays the first one.
	IsolationTorrc []string
	// User is the system user a launched tor runs as (tor's User option),
	// "" the daemon's own; its DataDirectory is given to that user.
	User string
	// Checker makes a launched tor the daemon's checker: a client only,
	// whose one SOCKS port is a unix socket in its DataDirectory (0700,
	// its user's), reachable by root and tor's user only. It alone holds
	// the daemon's self-check credentials: tor applies a credential to
	// every SOCKS stream of the tor that holds it.
	Checker bool
	// NetworkFrom, for a checker in system mode, is the system tor: the
	// checker joins the network that tor is on (its DirAuthority, bridge
	// and proxy lines).
	NetworkFrom *Supervisor
	// Ready is called, in its own goroutine, after every successful
	// (re)connection to a bootstrapped tor.
	Ready func(ctx context.Context, c *tor.Conn)
	Log   *slog.Logger
}

// Supervisor owns the daemon's connection to tor.
type Supervisor struct {
	cfg    Config
	moveMu sync.Mutex // held while the DataDirectory moves
	// filterSaid holds the commands a control-port filter refused that
	// were logged (see watchFilter).
	filterSaid sync.Map

	mu     sync.Mutex
	status apitype.Tor
	conn   *tor.Conn
	socks  string
	ready  chan struct{} // closed while a ready connection exists
	proc   *tor.Process
	// metrics is the MetricsPort of the launched tor, "127.0.0.1:PORT".
	metrics string
}

// New returns a supervisor; Run starts it.
func New(cfg Config) *Supervisor {
	if cfg.TorBinary == "" {
		cfg.TorBinary = "tor"
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Supervisor{cfg: cfg, ready: make(chan struct{}), status: apitype.Tor{State: "starting"}}
}

// Check verifies, before anything starts, that the configuration can work:
// the tor binary exists and is recent enough, the data dir can be made.
func (s *Supervisor) Check() error {
	switch s.cfg.Mode {
	case Testnet, Public:
		if err := tor.CheckVersion(s.cfg.TorBinary, MinTorVersion); err != nil {
			return err
		}
		if s.cfg.Mode == Testnet && len(s.cfg.JoinTorrc) == 0 {
			return errors.New("testnet mode needs the private network's join.torrc (--testnet-dir DIR)")
		}
		return nil
	case System:
		if s.cfg.Control == "" {
			return errors.New("system mode needs the tor control port or socket (--tor-control ADDR)")
		}
		return nil
	}
	return fmt.Errorf("unknown network mode %q (use testnet, system or public)", s.cfg.Mode)
}

// SetDataDir sets the DataDirectory for the next launch; call before Run.
func (s *Supervisor) SetDataDir(dir string) {
	s.mu.Lock()
	s.cfg.DataDir = dir
	s.mu.Unlock()
}

// config returns a copy of the configuration.
func (s *Supervisor) config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// DataDir returns the DataDirectory the daemon's own tor uses.
func (s *Supervisor) DataDir() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.DataDir
}

// MoveDataDir stops the daemon's own tor, copies its DataDirectory (keys,
// guards in the state file, cached directory) to dir, and lets the
// supervisor start tor again from there. In system mode it does nothing.
func (s *Supervisor) MoveDataDir(dir string, copyTree func(src, dst string) error) error {
	if s.cfg.Mode == System {
		return errors.New("tor's state belongs to the system tor in system mode")
	}
	s.moveMu.Lock()
	defer s.moveMu.Unlock()
	s.mu.Lock()
	old, p := s.cfg.DataDir, s.proc
	s.mu.Unlock()
	if old == dir {
		return nil
	}
	if p != nil {
		p.Stop()
	}
	if _, err := os.Stat(old); err == nil {
		// A crash before the rename leaves tmp, which the store removes
		// at the next start (store.Open), and old intact.
		tmp := store.MovingDir(dir)
		if err := os.RemoveAll(tmp); err != nil {
			return err
		}
		if err := os.MkdirAll(tmp, 0o700); err != nil {
			return err
		}
		if err := copyTree(old, tmp); err != nil {
			os.RemoveAll(tmp)
			return fmt.Errorf("copying tor's state: %w", err)
		}
		// Files of the running tor that must not move.
		for _, f := range []string{"lock", "control-port", "control_auth_cookie", "notice.log"} {
			os.Remove(filepath.Join(tmp, f))
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		if err := os.Rename(tmp, dir); err != nil {
			return err
		}
		if err := store.SyncDir(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.cfg.DataDir = dir
	s.mu.Unlock()
	// The move is done: a stale old copy costs disk, not state.
	if _, err := os.Stat(old); err == nil {
		err := os.RemoveAll(old)
		if err == nil {
			err = store.SyncDir(filepath.Dir(old))
		}
		if err != nil {
			s.cfg.Log.Warn("removing tor's state from its old place", "dir", old, "err", err)
		}
	}
	return nil
}

// Vanguards reports the vanguards protection of the tor in use.
func (s *Supervisor) Vanguards(ctx context.Context) string {
	c := s.Conn()
	if c == nil {
		return "unknown (tor is not ready)"
	}
	conf, err := c.GetConf(ctx, "VanguardsLiteEnabled")
	if err != nil {
		return "not offered by this tor (no VanguardsLiteEnabled)"
	}
	v := ""
	if vals := conf["VanguardsLiteEnabled"]; len(vals) > 0 {
		v = vals[0]
	}
	switch v {
	case "1":
		return "vanguards-lite on (built into tor " + s.Status().Version + ")"
	case "0":
		return "vanguards-lite off"
	default:
		return "vanguards-lite on by default (" + v + ", tor " + s.Status().Version + ")"
	}
}

// TorUID returns the uid tor runs as: its User's (or the daemon's own)
// for the daemon's own tor, what the system tor says (GETINFO
// process/uid) for the system tor.
func (s *Supervisor) TorUID() (int, bool) {
	if s.cfg.Mode != System {
		if s.cfg.User == "" {
			return os.Getuid(), true
		}
		uid, _, err := lookupIDs(s.cfg.User)
		return uid, err == nil
	}
	c := s.Conn()
	if c == nil {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := c.GetInfo(ctx, "process/uid")
	if err != nil {
		return 0, false
	}
	uid, err := strconv.Atoi(strings.TrimSpace(info["process/uid"]))
	return uid, err == nil && uid >= 0
}

// SetReady sets the hook called after every (re)connection; call it
// before Run.
func (s *Supervisor) SetReady(f func(ctx context.Context, c *tor.Conn)) {
	s.mu.Lock()
	s.cfg.Ready = f
	s.mu.Unlock()
}

// Status returns what is known of tor now.
func (s *Supervisor) Status() apitype.Tor {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.SocksAddr = s.socks
	if s.proc != nil && s.proc.Cmd != nil && s.proc.Cmd.Process != nil {
		st.PID = s.proc.Cmd.Process.Pid
	}
	return st
}

// LaunchedBinary is the tor program the supervisor launches ("" in
// system mode, where the tor is not ours): services ask it for its
// modules (proof of work) once per start.
func (s *Supervisor) LaunchedBinary() string {
	if s.cfg.Mode == System {
		return ""
	}
	return s.cfg.TorBinary
}

// Conn returns the ready control connection, or nil while there is none.
func (s *Supervisor) Conn() *tor.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// SocksAddr returns the address of tor's SOCKS port, or "". It asks tor
// each time: an "auto" port moves when tor reopens its listeners (for
// example after DisableNetwork was set and cleared).
func (s *Supervisor) SocksAddr() string {
	s.mu.Lock()
	c, cached := s.conn, s.socks
	s.mu.Unlock()
	if c == nil {
		return cached
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := c.GetInfo(ctx, "net/listeners/socks")
	if err != nil {
		return cached
	}
	addr := firstListener(info["net/listeners/socks"])
	s.mu.Lock()
	s.socks = addr
	s.mu.Unlock()
	return addr
}

// WaitReady waits until a ready connection exists or ctx ends.
func (s *Supervisor) WaitReady(ctx context.Context) (*tor.Conn, error) {
	for {
		s.mu.Lock()
		ch, c := s.ready, s.conn
		s.mu.Unlock()
		if c != nil {
			return c, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("tor is not ready (%s)", s.Status().State)
		}
	}
}

func (s *Supervisor) setState(state, summary string) {
	s.mu.Lock()
	s.status.State, s.status.Summary = state, summary
	s.mu.Unlock()
}

// Run keeps tor going until ctx ends, then stops the tor it launched.
func (s *Supervisor) Run(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		start := time.Now()
		err := s.session(ctx)
		if ctx.Err() != nil {
			return
		}
		s.cfg.Log.Warn("tor connection lost", "err", err)
		s.setState("down", downSummary(err))
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, 30*time.Second)
		s.mu.Lock()
		s.status.Restarts++
		s.mu.Unlock()
	}
}

// session runs one tor (or one attachment) from start to loss.
func (s *Supervisor) session(ctx context.Context) error {
	var conn *tor.Conn
	var exited <-chan struct{}
	switch s.cfg.Mode {
	case System:
		c, err := s.attach(ctx)
		if err != nil {
			return err
		}
		conn = c
	default:
		p, c, err := s.launch(ctx)
		if err != nil {
			return err
		}
		defer p.Stop()
		conn, exited = c, p.Exited()
	}
	defer conn.Close()

	info, err := conn.GetInfo(ctx, "version", "net/listeners/socks")
	if err != nil {
		return fmt.Errorf("asking tor for its version and SOCKS port: %w", err)
	}
	socks := firstListener(info["net/listeners/socks"])
	s.mu.Lock()
	s.status.Version = strings.Fields(info["version"] + " ")[0]
	s.socks = socks
	s.mu.Unlock()

	if err := s.waitBootstrap(ctx, conn, exited); err != nil {
		return err
	}
	s.mu.Lock()
	s.conn = conn
	s.status.State, s.status.Summary = "ready", "Done"
	close(s.ready)
	s.mu.Unlock()
	// A unix socket listener (the checker's) may open after the
	// control port answered: ask again.
	s.cfg.Log.Info("tor ready", "version", s.status.Version, "socks", s.SocksAddr())
	defer func() {
		s.mu.Lock()
		s.conn = nil
		s.ready = make(chan struct{})
		s.mu.Unlock()
	}()
	if ready := s.config().Ready; ready != nil {
		go ready(ctx, conn)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-conn.Done():
		if err := conn.Err(); err != nil {
			return fmt.Errorf("control connection closed: %w", err)
		}
		return errors.New("control connection closed")
	case <-exited:
		return errors.New("tor exited")
	}
}

func (s *Supervisor) attach(ctx context.Context) (*tor.Conn, error) {
	network, addr := "tcp", s.cfg.Control
	if strings.HasPrefix(addr, "/") || strings.HasPrefix(addr, "unix:") {
		network, addr = "unix", strings.TrimPrefix(addr, "unix:")
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := tor.Dial(dctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to tor's control port %s: %w", s.cfg.Control, err)
	}
	watchFilter(c, s.cfg.Log, &s.filterSaid)
	if err := c.Authenticate(dctx, s.cfg.Password); err != nil {
		c.Close()
		return nil, fmt.Errorf("authenticating to tor's control port %s: %w", s.cfg.Control, err)
	}
	return c, nil
}

func (s *Supervisor) launch(ctx context.Context) (*tor.Process, *tor.Conn, error) {
	s.setState("starting", "launching tor")
	s.moveMu.Lock() // not while MoveDataDir copies
	dataDir := s.DataDir()
	s.moveMu.Unlock()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, nil, err
	}
	if s.cfg.User != "" {
		uid, gid, err := lookupIDs(s.cfg.User)
		if err == nil {
			err = chownTree(dataDir, uid, gid)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	join := s.cfg.JoinTorrc
	if s.cfg.NetworkFrom != nil {
		s.setState("starting", "waiting for the system tor")
		j, err := networkLines(ctx, s.cfg.NetworkFrom)
		if err != nil {
			return nil, nil, err
		}
		join = j
	}
	lctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	torrc := s.torrc(join)
	metricsAddr, mlines, err := metricsTorrc()
	if err != nil {
		return nil, nil, err
	}
	torrc = append(torrc, mlines...)
	p, err := tor.Launch(lctx, tor.LaunchOptions{
		Binary:  s.cfg.TorBinary,
		DataDir: dataDir,
		Torrc:   torrc,
		LogPath: filepath.Join(dataDir, "notice.log"),
	})
	if err != nil {
		return nil, nil, err
	}
	c, err := tor.Dial(lctx, "tcp", p.ControlAddr)
	if err == nil {
		err = c.Authenticate(lctx, "")
		if err != nil {
			c.Close()
		}
	}
	if err != nil {
		p.Stop()
		return nil, nil, fmt.Errorf("connecting to the launched tor: %w", err)
	}
	s.mu.Lock()
	s.proc = p
	s.metrics = metricsAddr
	s.mu.Unlock()
	return p, c, nil
}

// waitBootstrap follows STATUS_CLIENT events until tor reports 100%.
func (s *Supervisor) waitBootstrap(ctx context.Context, c *tor.Conn, exited <-chan struct{}) error {
	events, cancel, err := c.Subscribe("STATUS_CLIENT")
	if err != nil {
		return err
	}
	defer cancel()
	info, err := c.GetInfo(ctx, "status/bootstrap-phase")
	if err != nil {
		return err
	}
	if b, ok := tor.ParseBootstrapPhase(info["status/bootstrap-phase"]); ok {
		s.setBootstrap(b)
		if b.Progress == 100 {
			return nil
		}
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return errors.New("control connection closed during bootstrap")
			}
			if b, ok := tor.ParseBootstrap(ev); ok {
				s.setBootstrap(b)
				if b.Progress == 100 {
					return nil
				}
			}
		case <-c.Done():
			return errors.New("control connection closed during bootstrap")
		case <-exited:
			return errors.New("tor exited during bootstrap")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Supervisor) setBootstrap(b tor.Bootstrap) {
	s.mu.Lock()
	s.status.State = "bootstrapping"
	s.status.Bootstrap = b.Progress
	s.status.Summary = b.Summary
	s.mu.Unlock()
}

// firstListener takes the first address of a GETINFO net/listeners/* answer
// (a space-separated list of quoted addresses).
func firstListener(v string) string {
	f := strings.Fields(v)
	if len(f) == 0 {
		return ""
	}
	if u, err := strconv.Unquote(f[0]); err == nil {
		return u
	}
	return strings.Trim(f[0], `"`)
}

// downSummary is the status line of a tor that is down: the first line of
// the error, with what to do when tor could not open a port.
func downSummary(err error) string {
	line := oneLine(err)
	if strings.Contains(line, "Could not bind to") {
		line += " (another program holds that port: stop it, or move the isolation policy's ports with --isolation-port-offset N; the daemon retries by itself)"
	}
	return line
}

func oneLine(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

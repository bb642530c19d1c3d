// Package daemon wires the daemon together: the state store, the tor
// supervisor, the service manager and the local API on a unix socket.
package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"tails-server/internal/api"
	"tails-server/internal/apitype"
	"tails-server/internal/balance"
	"tails-server/internal/catalog"
	"tails-server/internal/client"
	"tails-server/internal/firewall"
	"tails-server/internal/gui"
	"tails-server/internal/metrics"
	"tails-server/internal/services"
	"tails-server/internal/store"
	"tails-server/internal/testnet"
	"tails-server/internal/torsup"
	catalogfs "tails-server/services"
)

// Version is the daemon's version, shown by `tails-server version`.
var Version = "0.1.0-dev"

// Config is the daemon's configuration, from the command line.
type Config struct {
	StateDir string
	// VolatileDir is the root of amnesic services (default under /run,
	// see DefaultVolatileDir).
	VolatileDir string
	Network     string // testnet, system or public
	TestnetDir  string // testnet mode: the private network's directory
	TorControl  string // system mode: control port or socket
	TorBinary   string
	// OnionbalanceBinary is the onionbalance program of balance
	// masters (default balance.DefaultBinary).
	OnionbalanceBinary string
	Socket             string
	// Group may use the API, besides root: the socket is root:Group
	// 0660. Empty: DefaultGroup, created (groupadd --system) when
	// missing; a named group must exist.
	Group string
	// CatalogDir holds third-party service descriptions (default
	// catalog.DefaultDir); a missing directory is fine.
	CatalogDir string
	// NoBuiltinCatalog leaves the built-in catalog out: the daemon serves
	// the services of CatalogDir alone (the scratch daemon of `tails-server
	// check`, whose catalog dir holds the one description under test, which
	// may be a copy of a built-in one).
	NoBuiltinCatalog bool
	// Firewall turns the nftables rules of allow-lan / allow-localhost
	// on; FirewallTable names the daemon's table (default tails_server).
	Firewall      bool
	FirewallTable string
	// CheckInterval is the time between self-checks of a reachable service.
	CheckInterval time.Duration
	// GUIListen is the GUI's listen address, on 127.0.0.1 (default
	// gui.DefaultListen, a port chosen by the system); "off": no GUI.
	GUIListen string
	Log       *slog.Logger
	// IsolationPolicy is the stream isolation policy file ("" the
	// built-in one, "none" no policy); IsolationPortOffset shifts its
	// ports; IsolationExplicit says either was given (testnet mode adds
	// the policy's ports to its tor only then).
	IsolationPolicy     string
	IsolationPortOffset int
	IsolationExplicit   bool
	// IsolationConfine confines the built-in layout's browser (see
	// internal/confine), as if its port said confine: true.
	IsolationConfine bool
	// OnionsPerTor is how many onions one of the daemon's own tors
	// carries before it launches another (default
	// torsup.DefaultOnionsPerTor).
	OnionsPerTor int
	// MetricsListen, if set, is the TCP address serving the metrics
	// (GET /metrics) to Prometheus; a loopback one unless
	// MetricsAllowRemote (metrics.CheckListen).
	MetricsListen      string
	MetricsAllowRemote bool
}

type daemon struct {
	cfg     Config
	started time.Time
	sup     *torsup.Supervisor // the first tor
	tors    *torsup.Pool
	svcs    *services.Manager
	store   *store.Store
	setMu   sync.Mutex // serialises settings changes
	// catalogErrors are the descriptions refused at load, "file:line: why".
	catalogErrors []string
	cat           *catalog.Catalog
	gui           *gui.Server // with no listener under --gui-listen off
	iso           *isoState
	// torUser is the user the daemon's tors run as; "": the daemon's own.
	torUser string
	metrics *metrics.Daemon
	bal     *balance.Manager // balance.go
}

// GUILogin returns a fresh one-time login token of the GUI for uid.
func (d *daemon) GUILogin(uid int) (apitype.GUILogin, error) {
	if d.gui == nil || d.cfg.GUIListen == "off" {
		return apitype.GUILogin{}, &services.Error{Status: 404, Msg: "the GUI is off (--gui-listen off)", Hint: "restart the daemon without --gui-listen off"}
	}
	return d.gui.Login(uid)
}

// ServeWindow serves a GUI request of a window program at the API socket.
func (d *daemon) ServeWindow(w http.ResponseWriter, r *http.Request, uid, pid int) {
	d.gui.ServeWindow(w, r, uid, pid)
}

// Icon returns the SVG icon of a service's description.
func (d *daemon) Icon(name string) ([]byte, bool) {
	s, ok := d.cat.Get(name)
	if !ok {
		return nil, false
	}
	b := s.IconSVG()
	return b, len(b) > 0
}

func (d *daemon) Services() *services.Manager { return d.svcs }

func (d *daemon) Status() apitype.Daemon {
	tors := d.tors.Statuses()
	return apitype.Daemon{
		Version:       Version,
		Network:       d.cfg.Network,
		Socket:        d.cfg.Socket,
		PID:           os.Getpid(),
		Started:       d.started,
		Tor:           tors[0],
		MoreTors:      tors[1:],
		Checker:       d.checkerStatus(),
		CatalogErrors: d.catalogErrors,
	}
}

func (d *daemon) checkerStatus() *apitype.Tor {
	c := d.tors.Checker()
	if c == nil {
		return nil
	}
	st := c.Status()
	return &st
}

// Settings returns the global settings.
func (d *daemon) Settings(ctx context.Context) (apitype.Settings, error) {
	st, err := d.store.LoadSettings()
	if err != nil {
		return apitype.Settings{}, err
	}
	out := apitype.Settings{PersistTorState: st.PersistTorState, Vanguards: d.sup.Vanguards(ctx),
		Tors: len(d.tors.All()), OnionsPerTor: d.tors.OnionsPerTor()}
	if d.cfg.Network != torsup.System {
		out.TorDataDir = d.sup.DataDir()
	}
	out.Notes = []string{
		"persist-tor-state keeps tor's entry guards across reboots. Off (the amnesic default), tor picks new guards at every boot: " +
			"each new guard is another chance to pick a hostile one, and a hostile guard can find out where an onion service runs. " +
			"On, the same guards are kept, but they can tell that the same computer comes back, wherever it connects from.",
		"Vanguards-lite, built into tor since 0.4.7, keeps the middle nodes of onion service circuits for a while, against guard discovery.",
	}
	if per := d.tors.OnionsPerTor(); per > 0 {
		out.Notes = append(out.Notes, fmt.Sprintf("The daemon runs one more tor for every %d services enabled beyond the first tor's (--onions-per-tor): "+
			"after a restart one tor brings its onions back in a time that grows much faster than their number. "+
			"A further tor starts from the first tor's entry guards when the first has saved them; it keeps its own from then on, "+
			"so each further tor may add guards.", per))
	}
	if d.cfg.Network == torsup.System {
		out.Notes = append(out.Notes, "In system mode tor's state belongs to the system tor: persist-tor-state is the system's choice.")
	}
	return out, nil
}

// SetSetting changes one global setting.
func (d *daemon) SetSetting(ctx context.Context, name, value string) (apitype.Settings, error) {
	d.setMu.Lock()
	defer d.setMu.Unlock()
	st, err := d.store.LoadSettings()
	if err != nil {
		return apitype.Settings{}, err
	}
	switch name {
	case "persist-tor-state":
		var on bool
		switch strings.ToLower(value) {
		case "true", "yes", "on":
			on = true
		case "false", "no", "off":
		default:
			return apitype.Settings{}, &services.Error{Status: 400, Msg: fmt.Sprintf("persist-tor-state must be true or false, not %q", value)}
		}
		if d.cfg.Network == torsup.System {
			return apitype.Settings{}, &services.Error{Status: 409, Msg: "persist-tor-state is the system tor's choice in system mode"}
		}
		if on != st.PersistTorState {
			if err := torReaches(d.torUser, d.store.TorDataDir(on)); err != nil {
				return apitype.Settings{}, &services.Error{Status: 409, Msg: err.Error()}
			}
			if err := d.tors.MoveDataDir(d.store.TorDataDir(on), store.CopyTree); err != nil {
				return apitype.Settings{}, err
			}
			st.PersistTorState = on
			if err := d.store.SaveSettings(st); err != nil {
				return apitype.Settings{}, err
			}
		}
	default:
		return apitype.Settings{}, &services.Error{Status: 404, Msg: fmt.Sprintf("no setting %q", name), Hint: "settings: persist-tor-state"}
	}
	return d.Settings(ctx)
}

// Run runs the daemon until ctx ends. Each start-up step's error names the
// step.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	log := cfg.Log
	if cfg.VolatileDir == "" {
		cfg.VolatileDir = DefaultVolatileDir(cfg.StateDir)
	}
	// Roots another user could change under the daemon are refused
	// before anything is written in them.
	if err := store.CheckOwned("state dir", cfg.StateDir); err != nil {
		return err
	}
	if err := store.CheckOwned("volatile dir", cfg.VolatileDir); err != nil {
		return err
	}
	os.MkdirAll(filepath.Dir(cfg.VolatileDir), 0o711)
	// Check what needs no disk first: a bad tor or network setting must
	// leave nothing behind.
	tcfg := torsup.Config{
		Mode:      cfg.Network,
		TorBinary: cfg.TorBinary,
		DataDir:   filepath.Join(cfg.StateDir, "tor"),
		Control:   cfg.TorControl,
		Log:       log.With("part", "tor"),
	}
	if cfg.Network == torsup.Testnet {
		if cfg.TestnetDir == "" {
			return errors.New("testnet mode needs --testnet-dir DIR (the directory of `tails-server testnet up --dir DIR`)")
		}
		env, err := testnet.Load(cfg.TestnetDir)
		if err != nil {
			return fmt.Errorf("reading the private network in %s: %w", cfg.TestnetDir, err)
		}
		tcfg.JoinTorrc = splitLines(env.JoinTorrc)
	}
	// Tor itself first: the isolation policy's check runs it.
	if err := torsup.New(tcfg).Check(); err != nil {
		return err
	}
	if os.Getuid() == 0 {
		// The daemon's own tors (and its checker, in system mode too)
		// run as a user of their own, not as root.
		if err := torsup.EnsureUser(torsup.TorUser); err != nil {
			return err
		}
		tcfg.User = torsup.TorUser
	}
	iso, err := setupIsolation(ctx, cfg, &tcfg)
	if err != nil {
		return fmt.Errorf("isolation policy: %w", err)
	}
	sup := torsup.New(tcfg)
	if cfg.GUIListen != "off" && cfg.GUIListen != "" {
		if err := gui.CheckListen(cfg.GUIListen); err != nil {
			return err
		}
	}
	if cfg.MetricsListen != "" {
		if err := metrics.CheckListen(cfg.MetricsListen, cfg.MetricsAllowRemote); err != nil {
			return err
		}
	}

	group, gid, err := apiGroup(cfg.Group, log)
	if err != nil {
		return err
	}

	// The tors' DataDirectories are in the volatile root, or in the state
	// dir with persist-tor-state (checked once the settings are read, and
	// again when that setting changes): tor's user must reach them.
	if err := torReaches(tcfg.User, cfg.VolatileDir); err != nil {
		return err
	}
	// The lock first: opening the store ends the moves a crash
	// interrupted, which must not race a daemon still moving them.
	if err := os.MkdirAll(cfg.StateDir, 0o711); err != nil {
		return fmt.Errorf("state dir %s cannot be created: %w", cfg.StateDir, errors.Unwrap(err))
	}
	unlock, err := lockState(cfg.StateDir)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := store.Open(cfg.StateDir, cfg.VolatileDir)
	if err != nil {
		return err
	}
	st.Fault = faultHook(log)

	settings, err := st.LoadSettings()
	if err != nil {
		return err
	}
	if settings.PersistTorState {
		if err := torReaches(tcfg.User, st.TorDataDir(true)); err != nil {
			return err
		}
	}
	tors := torsup.NewPool(sup, cfg.OnionsPerTor)
	tors.SetDataDir(st.TorDataDir(settings.PersistTorState))
	// The checker keeps nothing worth keeping: it starts from the first
	// tor's guards (Pool.Run).
	checker := tors.AddChecker(filepath.Join(st.Volatile, "tor-checker"))
	d := &daemon{cfg: cfg, started: time.Now().UTC().Truncate(time.Second), sup: sup, tors: tors, store: st, torUser: tcfg.User, metrics: metrics.NewDaemon()}
	if cfg.CatalogDir == "" {
		cfg.CatalogDir = catalog.DefaultDir
	}
	var builtin fs.FS = catalogfs.FS
	if cfg.NoBuiltinCatalog {
		builtin = nil
	}
	cat, errs := catalog.Load(builtin, cfg.CatalogDir)
	d.cat = cat
	for _, e := range errs {
		log.Warn("catalog: description refused", "err", e)
		d.catalogErrors = append(d.catalogErrors, e.Error())
	}
	var fw *firewall.Firewall
	if cfg.Firewall {
		if cfg.FirewallTable != "" && !firewall.ValidTable(cfg.FirewallTable) {
			return fmt.Errorf("invalid --firewall-table %q: use 1 to 32 of a-z, 0-9 and _", cfg.FirewallTable)
		}
		fw = &firewall.Firewall{Table: cfg.FirewallTable}
	}
	d.svcs, err = services.New(st, poolTors{tors}, cat, services.Options{Firewall: fw, TorUID: sup.TorUID, Checker: checker, CheckInterval: cfg.CheckInterval, Metrics: d.metrics, Log: log.With("part", "services")})
	if err != nil {
		return fmt.Errorf("loading services: %w", err)
	}
	if d.bal, err = newBalance(cfg, tcfg, st); err != nil {
		return fmt.Errorf("loading balance masters: %w", err)
	}
	d.iso = iso
	tors.SetReady(d.torReady)

	ln, err := listen(cfg.Socket, gid)
	if err != nil {
		return err
	}
	// The GUI serves the window program over the socket even with no
	// listener of its own (--gui-listen off).
	d.gui = gui.New(gui.Config{Client: client.New(cfg.Socket), Log: log.With("part", "gui")})
	if cfg.GUIListen != "off" {
		if err := d.gui.Listen(cfg.GUIListen); err != nil {
			ln.Close()
			os.Remove(cfg.Socket)
			return err
		}
		go d.gui.Serve()
		log.Info("gui listening", "addr", d.gui.Addr(), "login", "tails-server gui")
	}
	if cfg.MetricsListen != "" {
		addr, err := d.serveMetrics(ctx, cfg.MetricsListen)
		if err != nil {
			ln.Close()
			os.Remove(cfg.Socket)
			return err
		}
		log.Info("metrics listening", "addr", addr.String())
	}
	d.svcs.Boot()
	srv := api.NewServer(d, log.With("part", "api"))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("api listening", "socket", cfg.Socket, "group", group, "who", "root and the members of group "+group)

	torDone := make(chan struct{})
	go func() {
		defer close(torDone)
		d.tors.Run(ctx)
	}()
	d.svcs.Start(ctx)
	d.bal.Start(ctx)

	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("serving the API: %w", err)
	}
	log.Info("stopping")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if d.gui != nil {
		d.gui.Shutdown(sctx)
	}
	srv.Shutdown(sctx)
	d.stopConfined()
	os.Remove(cfg.Socket)
	d.svcs.Stop()
	d.bal.Stop()
	<-torDone
	return nil
}

// poolTors gives the service manager the daemon's tors.
type poolTors struct{ *torsup.Pool }

func (p poolTors) Tor(i int) services.Tor { return p.Pool.Tor(i) }

// DefaultVolatileDir is the volatile root for a state dir: under /run
// (gone at reboot), one per state dir so that several daemons can share a
// machine.
func DefaultVolatileDir(stateDir string) string {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		abs = stateDir
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join("/run/tails-server", "volatile-"+hex.EncodeToString(sum[:6]))
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// lockState makes sure that one daemon at a time uses a state dir.
func lockState(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "daemon.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another daemon already uses the state dir %s", dir)
	}
	return func() { f.Close() }, nil
}

// torReaches checks that tor, running as user, can reach dir; "" (tor runs
// as the daemon's own user) always can.
func torReaches(user, dir string) error {
	if user == "" {
		return nil
	}
	return torsup.CheckReachable(user, dir)
}

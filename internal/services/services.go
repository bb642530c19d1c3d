// Package services runs the lifecycle of hosted services: it keeps each
// service's onion key and authorized clients in the store, starts its
// backend, publishes it as a v3 onion service with client authorization on
// the daemon's tor, follows the descriptor uploads, and proves the service
// reachable by fetching it through the onion with tor's own SOCKS port (a
// self-check, repeated periodically; a failing service is re-published).
package services

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/fileshare"
	"tails-server/internal/firewall"
	"tails-server/internal/health"
	"tails-server/internal/install"
	"tails-server/internal/metrics"
	"tails-server/internal/onionkey"
	"tails-server/internal/store"
	"tails-server/internal/tor"
)

// Error is a failure the user can act on; Status is the HTTP status the API
// answers with.
type Error struct {
	Status int
	Msg    string
	Hint   string
}

func (e *Error) Error() string { return e.Msg }

func notFound(format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf(format, args...)}
}

// Tor is what services need of one of the daemon's tors.
type Tor interface {
	// Conn is the ready control connection, or nil.
	Conn() *tor.Conn
	// SocksAddr is tor's SOCKS port.
	SocksAddr() string
}

// Tors is what services need of the daemon's tors: the onions are spread
// over them, at most OnionsPerTor on each. The self-checks do not go through
// them but through Options.Checker.
type Tors interface {
	// Tor returns the i-th tor (0 the first), launching it if needed.
	Tor(i int) Tor
	// OnionsPerTor is how many onions one tor carries; 0: no limit, all
	// on the first.
	OnionsPerTor() int
}

// OneTor is Tors for a single tor.
type OneTor struct{ T Tor }

// Tor returns the one tor.
func (o OneTor) Tor(int) Tor { return o.T }

// OnionsPerTor is 0: every onion on the one tor.
func (o OneTor) OnionsPerTor() int { return 0 }

// Options tune the manager.
type Options struct {
	// CheckInterval is the time between two self-checks of a reachable
	// service (default 5 minutes).
	CheckInterval time.Duration
	// FailuresBeforeRepublish is how many failed checks in a row make
	// the daemon re-publish the onion (default 3).
	FailuresBeforeRepublish int
	// PublishConcurrency bounds, on each tor, the onions whose
	// descriptors are on their way to the directories at once, and the
	// self-checks under way at once (default 16). Measured on the private
	// network (BenchmarkRecovery), with 50 onions on one tor: re-added all
	// at once, intro circuits failed, tor gave up on services' intro
	// points (it launches at most 10 intro circuits per service per 300 s)
	// and the last came back only with the next time period, 240 s later;
	// paced 4 at a time all were back in 28.8 s, 8 in 19.6 s, 16 in 15-18 s.
	// The rest of the cure is to spread the onions over several tors
	// (Tors.OnionsPerTor, 10 by default), under this bound.
	PublishConcurrency int
	Log                *slog.Logger
	// Metrics counts self-checks, publications and descriptor uploads;
	// nil: not counted.
	Metrics *metrics.Daemon
	// DpkgStatus is dpkg's status file, which says whether a service's
	// packages are installed (default install.DpkgStatusFile).
	DpkgStatus string
	// Firewall keeps the allow-lan / allow-localhost rules; nil: off.
	Firewall *firewall.Firewall
	// TorUID returns the uid tor runs as, when known.
	TorUID func() (int, bool)
	// Checker is the tor the self-checks go through, the only one given
	// the daemon's own client credentials: tor applies a credential to
	// every SOCKS stream of the tor that holds it, so it must be a tor no
	// other local process can use (torsup's checker). nil: the checks go
	// through the tor that carries the onion, and a service with client
	// authorization cannot be checked.
	Checker Tor
	// Clock is what the stop-after and start-at timers go by (default
	// the wall clock).
	Clock Clock
}

// Manager owns every hosted service.
type Manager struct {
	store     *store.Store
	tors      Tors
	catalog   *catalog.Catalog
	installer *install.Installer
	opt       Options
	log       *slog.Logger
	clock     Clock

	mu   sync.Mutex
	svcs map[string]*service
	// stopping: the daemon shuts down; no timer acts any more.
	stopping bool
	// pacers pace each tor's publications and self-checks, by index.
	pacers map[int]*pacer
	// pow is what each tor (by index) was measured to support at its
	// last start (protection.go).
	pow map[int]tor.PoWSupport
	// dirGroups are the hidden-service groups of the tors, by index: the
	// services published through tor's configuration (publish_dir.go).
	dirGroups map[int]*dirGroup

	// contentMu guards staging and serialises the moves into place of
	// adds of files (content_add.go).
	contentMu sync.Mutex
	// staging holds the staging folders of the adds under way.
	staging map[string]bool

	// bootOnce makes Boot's decision once per daemon start.
	bootOnce sync.Once
	// staged are the imports waiting for apply (import.go).
	staged imports
}

// pacer holds, for one tor, a token for each onion whose descriptor is on
// its way to the directories, and one for each self-check under way: see
// PublishConcurrency.
type pacer struct {
	publishing chan struct{}
	checking   chan struct{}
}

// service is the runtime of one hosted service.
type service struct {
	def *catalog.Service

	op sync.Mutex // serialises enable, disable, client changes

	mu       sync.Mutex
	rec      *store.Service
	key      *onionkey.ServiceKey
	selfKey  *onionkey.ClientKey
	progress string // the current step of a start, for status
	watchers map[chan apitype.Progress]struct{}
	backend  Backend
	state    string
	err      string
	added    *tor.Conn // connection the onion was added on
	// torIndex is the tor that carries the onion while the service is
	// enabled, -1 when none was chosen; guarded by Manager.mu.
	torIndex   int
	uploads    int
	lastUpload time.Time
	// inFlight are the directories an upload of the current onion's
	// descriptor is under way to; settled is closed once a descriptor
	// went out and none is in flight any more.
	inFlight    map[string]bool
	settled     chan struct{}
	lastCheck   *apitype.Check
	republished int
	changed     chan struct{}
	stopChecks  context.CancelFunc
	// kick asks the self-check loop for a check now (the backend was
	// started again).
	kick chan struct{}
	// timer is armed for the next stop-after or start-at deadline
	// (timers.go).
	timer Timer
	// transfers is the transfer history of a built-in fileshare
	// backend, kept after it stops (transfers.go).
	transfers *fileshare.History
	// powOff says why the onion went up without proof of work although
	// the pow option is on ("" when it has it, or pow is off).
	powOff string
	// health is the record of the self-checks (healthrec.go).
	health *health.Record
}

// New returns a manager over the services of the catalog.
func New(st *store.Store, t Tors, cat *catalog.Catalog, opt Options) (*Manager, error) {
	if opt.CheckInterval <= 0 {
		opt.CheckInterval = 5 * time.Minute
	}
	if opt.FailuresBeforeRepublish <= 0 {
		opt.FailuresBeforeRepublish = 3
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.PublishConcurrency <= 0 {
		opt.PublishConcurrency = 16
	}
	if opt.Clock == nil {
		opt.Clock = wallClock{}
	}
	m := &Manager{store: st, tors: t, catalog: cat, installer: &install.Installer{UnitsRecord: filepath.Join(st.Dir, "system-units.json"), StatusFile: opt.DpkgStatus}, opt: opt, log: opt.Log, clock: opt.Clock, svcs: map[string]*service{},
		pacers: map[int]*pacer{}, staging: map[string]bool{}}
	m.removeStaleImports()
	for _, name := range cat.Names() {
		def, _ := cat.Get(name)
		rec, err := st.Load(name)
		if err != nil {
			return nil, err
		}
		s := &service{def: def, rec: rec, state: apitype.StateDisabled, changed: make(chan struct{}),
			kick: make(chan struct{}, 1), torIndex: -1, health: m.newHealth(name)}
		if err := m.loadKeys(s); err != nil {
			return nil, err
		}
		m.svcs[name] = s
	}
	return m, nil
}

// loadKeys reads the stored onion key; the address always comes from it.
func (m *Manager) loadKeys(s *service) error {
	b, err := m.store.ReadKey(s.def.Name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	k, err := onionkey.ParseSecretKeyFile(b)
	if err != nil {
		return fmt.Errorf("%s: %w", m.store.KeyPath(s.def.Name), err)
	}
	s.key = k
	s.rec.Address = k.Address()
	if s.rec.SelfCheckKey != "" {
		ck, err := onionkey.ParseClientPrivateBase32(s.rec.SelfCheckKey)
		if err != nil {
			return fmt.Errorf("%s: self-check key: %w", s.def.Name, err)
		}
		s.selfKey = ck
	}
	return nil
}

func (m *Manager) get(name string) (*service, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.svcs[name]
	if !ok {
		names := make([]string, 0, len(m.svcs))
		for n := range m.svcs {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("unknown service %q", name),
			Hint: fmt.Sprintf("`tails-server list` shows the services: %v", names)}
	}
	return s, nil
}

// setState changes the state and wakes up whoever waits for a change.
// Only fire calls it: every change goes through the state machine
// (state.go). Call with s.mu held.
func (s *service) setState(state, err string) {
	s.state, s.err = state, err
	close(s.changed)
	s.changed = make(chan struct{})
	step := state
	if err != "" {
		step += ": " + err
	}
	s.notify(apitype.Progress{Step: step, State: state})
}

// notify sends a progress step to the watchers, never blocking. Call with
// s.mu held.
func (s *service) notify(p apitype.Progress) {
	p.Service = s.def.Name
	for ch := range s.watchers {
		select {
		case ch <- p:
		default:
		}
	}
}

// Watch returns the progress steps of a service until cancel is called.
func (m *Manager) Watch(name string) (<-chan apitype.Progress, func(), error) {
	s, err := m.get(name)
	if err != nil {
		return nil, nil, err
	}
	ch := make(chan apitype.Progress, 256)
	s.mu.Lock()
	if s.watchers == nil {
		s.watchers = map[chan apitype.Progress]struct{}{}
	}
	s.watchers[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.watchers, ch)
		s.mu.Unlock()
	}, nil
}

// bootMarker, in the volatile root, says that the daemon already ran since
// the machine booted.
const bootMarker = ".booted"

// Boot makes the decision a boot calls for, before anyone can ask: after
// a boot (the volatile root has no boot marker yet) the services with
// autostart off are left disabled. It only changes records, so the daemon
// calls it before its API answers (a status right after the start never
// shows a service enabled that is about to be disabled). Start calls it
// when the daemon has not.
func (m *Manager) Boot() {
	m.bootOnce.Do(m.boot)
}

func (m *Manager) boot() {
	marker := filepath.Join(m.store.Volatile, bootMarker)
	_, err := os.Stat(marker)
	if !errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err := store.WriteFile(marker, nil, 0o600); err != nil {
		m.log.Warn("writing the boot marker", "err", err)
	}
	for _, s := range m.all() {
		s.mu.Lock()
		if s.rec.Enabled && m.value(s, catalog.OptAutostart) != "true" {
			s.rec.Enabled = false
			s.rec.PublishedAt, s.rec.StopAt = nil, nil
			if err := m.store.Save(s.rec); err != nil {
				m.log.Warn("saving", "service", s.def.Name, "err", err)
			}
		}
		s.mu.Unlock()
	}
}

// Start brings services back when the daemon starts: after a restart of
// the daemon alone every enabled service comes back; after a boot only
// those with autostart on (see Boot). Onions are added once tor is ready,
// through TorReady.
func (m *Manager) Start(ctx context.Context) {
	m.Boot()
	for _, s := range m.all() {
		s.mu.Lock()
		enabled := s.rec.Enabled
		s.mu.Unlock()
		if !enabled {
			continue
		}
		s.op.Lock()
		m.startEnabled(ctx, s)
		s.op.Unlock()
	}
}

// startEnabled brings an enabled service back at the daemon's start: a
// stop-after deadline that passed while the daemon was down disables it
// unpublished; a start-at still ahead (for a service not published since
// it was enabled) schedules it again; else it starts and publishes, its
// stop-after deadline armed again. Call with s.op held.
func (m *Manager) startEnabled(ctx context.Context, s *service) {
	s.mu.Lock()
	expired := s.rec.StopAt != nil && !m.clock.Now().Before(*s.rec.StopAt)
	at, later := m.waitsForStart(s)
	later = later && s.rec.PublishedAt == nil
	why := stoppedWhy(s, true)
	s.mu.Unlock()
	switch {
	case expired:
		m.log.Info("stop-after ran out while the daemon was not running: disabled", "service", s.def.Name)
		if err := m.takeDown(ctx, s, false, evDisable, why); err != nil {
			m.log.Warn("stop-after: disabling", "service", s.def.Name, "err", err)
		}
	case later:
		if err := m.takeDown(ctx, s, true, evSchedule, scheduledWhy(at)); err != nil {
			m.log.Warn("start-at: scheduling", "service", s.def.Name, "err", err)
		}
	default:
		s.mu.Lock()
		s.fire(evEnable, "")
		s.mu.Unlock()
		m.startNow(ctx, s)
	}
}

// torOf returns the tor that carries the service's onion, choosing one if
// none is chosen yet: the first with room for one more.
func (m *Manager) torOf(s *service) Tor {
	m.mu.Lock()
	if s.torIndex < 0 {
		s.torIndex = m.roomyTor()
	}
	i := s.torIndex
	m.mu.Unlock()
	return m.tors.Tor(i)
}

// roomyTor returns the index of the first tor with room for one more
// onion. Call with m.mu held.
func (m *Manager) roomyTor() int {
	per := m.tors.OnionsPerTor()
	if per <= 0 {
		return 0
	}
	count := map[int]int{}
	for _, o := range m.svcs {
		if o.torIndex >= 0 {
			count[o.torIndex]++
		}
	}
	i := 0
	for count[i] >= per {
		i++
	}
	return i
}

// releaseTor frees the service's place on its tor, once its onion is
// withdrawn.
func (m *Manager) releaseTor(s *service) {
	m.mu.Lock()
	s.torIndex = -1
	m.mu.Unlock()
}

// pacerOf returns the pacer of the tor that carries the service's onion.
func (m *Manager) pacerOf(s *service) *pacer {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := max(s.torIndex, 0)
	p := m.pacers[i]
	if p == nil {
		p = &pacer{publishing: make(chan struct{}, m.opt.PublishConcurrency), checking: make(chan struct{}, m.opt.PublishConcurrency)}
		m.pacers[i] = p
	}
	return p
}

func (m *Manager) all() []*service {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*service, 0, len(m.svcs))
	for _, s := range m.svcs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].def.Name < out[j].def.Name })
	return out
}

// List returns every service of the catalog.
func (m *Manager) List() []apitype.Service {
	var out []apitype.Service
	for _, s := range m.all() {
		out = append(out, m.info(s, false, false))
	}
	return out
}

// Info returns one service, with details if asked.
func (m *Manager) Info(name string, details, showSecrets bool) (apitype.Service, error) {
	s, err := m.get(name)
	if err != nil {
		return apitype.Service{}, err
	}
	out := m.info(s, details, showSecrets)
	out.Health = m.healthOut(s, true)
	return out, nil
}

// installed reports whether the service has everything it needs on this
// machine: a built-in backend always, a packaged one once dpkg has every
// package of its description.
func (m *Manager) installed(def *catalog.Service) bool {
	if def.Backend.Builtin != "" || len(def.Packages) == 0 {
		return true
	}
	return m.installer.Installed(def.Packages)
}

func (m *Manager) info(s *service, details, showSecrets bool) apitype.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := apitype.Service{
		Name:        s.def.Name,
		Title:       s.def.Title,
		Description: s.def.Description,
		Enabled:     s.rec.Enabled,
		Installed:   m.installed(s.def),
		State:       s.state,
		Reachable:   s.state == apitype.StateReachable,
		OnionPort:   s.def.OnionPorts[0].Virtual,
		ClientAuth:  m.value(s, catalog.OptClientAuth) == "true",
		Clients:     len(s.rec.Clients),
		Error:       s.err,
		Persistent:  m.store.IsPersistent(s.def.Name),
		Options:     m.optionsOut(s, showSecrets),
		Content:     contentFolders(s.def),
		Progress:    s.progress,
	}
	if s.rec.Address != "" {
		out.OnionAddress = s.rec.Address + ".onion"
	}
	m.timersOut(s, &out)
	out.Health = m.healthOut(s, false)
	out.Transfers = transfersOut(s.transfers.Done())
	out.Warnings = append(m.warnings(s), s.powWarning()...)
	if s.rec.Enabled && out.ClientAuth && len(s.rec.Clients) == 0 {
		out.Warnings = append(out.Warnings, fmt.Sprintf("no client may connect yet: add one with `tails-server client add %s NAME`", s.def.Name))
	}
	if details {
		d := &apitype.ServiceDetails{
			DataDir:           m.store.ServiceDir(s.def.Name),
			KeyFile:           m.store.KeyPath(s.def.Name),
			DescriptorUploads: s.uploads,
			LastCheck:         s.lastCheck,
			Republished:       s.republished,
		}
		if s.backend != nil {
			d.LocalAddress = s.backend.Addr()
		}
		m.mu.Lock()
		if s.added != nil {
			d.Tor = s.torIndex + 1
		}
		m.mu.Unlock()
		if p, ok := s.backend.(*process); ok {
			st := p.Status()
			d.Backend = &apitype.BackendStatus{Running: st.Running, PID: st.PID, Restarts: st.Restarts, LastExit: st.LastExit}
		}
		if !s.lastUpload.IsZero() {
			t := s.lastUpload
			d.LastUpload = &t
		}
		out.Details = d
	}
	return out
}

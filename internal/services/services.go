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
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/firewall"
	"tails-server/internal/install"
	"tails-server/internal/onionkey"
	"tails-server/internal/socks"
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
// over them, at most OnionsPerTor on each. A service's onion, its
// self-check credential and its self-check all go through the same tor.
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
	// Firewall keeps the allow-lan / allow-localhost rules; nil: off.
	Firewall *firewall.Firewall
	// TorUID returns the uid tor runs as, when known.
	TorUID func() (int, bool)
}

// Manager owns every hosted service.
type Manager struct {
	store     *store.Store
	tors      Tors
	catalog   *catalog.Catalog
	installer *install.Installer
	opt       Options
	log       *slog.Logger

	mu   sync.Mutex
	svcs map[string]*service
	// pacers pace each tor's publications and self-checks, by index.
	pacers map[int]*pacer
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
	m := &Manager{store: st, tors: t, catalog: cat, installer: &install.Installer{}, opt: opt, log: opt.Log, svcs: map[string]*service{},
		pacers: map[int]*pacer{}}
	for _, name := range cat.Names() {
		def, _ := cat.Get(name)
		rec, err := st.Load(name)
		if err != nil {
			return nil, err
		}
		s := &service{def: def, rec: rec, state: apitype.StateDisabled, changed: make(chan struct{}), torIndex: -1}
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
// Call with s.mu held.
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

// Start brings services back when the daemon starts. After a restart of
// the daemon alone every enabled service comes back; after a boot (the
// volatile root has no boot marker yet) only those with autostart on, and
// the others are left disabled. Onions are added once tor is ready, through
// TorReady.
func (m *Manager) Start(ctx context.Context) {
	marker := filepath.Join(m.store.Volatile, bootMarker)
	_, err := os.Stat(marker)
	booted := errors.Is(err, fs.ErrNotExist)
	if booted {
		if err := store.WriteFile(marker, nil, 0o600); err != nil {
			m.log.Warn("writing the boot marker", "err", err)
		}
	}
	for _, s := range m.all() {
		s.mu.Lock()
		enabled := s.rec.Enabled
		autostart := m.value(s, catalog.OptAutostart) == "true"
		if enabled && booted && !autostart {
			s.rec.Enabled = false
			if err := m.store.Save(s.rec); err != nil {
				m.log.Warn("saving", "service", s.def.Name, "err", err)
			}
			enabled = false
		}
		s.mu.Unlock()
		if !enabled {
			continue
		}
		s.op.Lock()
		if err := m.startBackend(ctx, s); err != nil {
			m.log.Error("service did not start", "service", s.def.Name, "err", err)
		} else if c := m.torOf(s).Conn(); c != nil {
			m.publish(ctx, s, c)
		}
		s.op.Unlock()
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

// TorReady re-adds the onion of every enabled service the i-th tor carries
// on its new control connection: after that tor restarted, or the system
// tor's control connection came back.
func (m *Manager) TorReady(ctx context.Context, i int, c *tor.Conn) {
	go m.followDescriptors(ctx, c)
	// Every service at once; publishOpts paces them.
	var wg sync.WaitGroup
	for _, s := range m.all() {
		m.mu.Lock()
		mine := s.torIndex == i
		m.mu.Unlock()
		if !mine {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.op.Lock()
			defer s.op.Unlock()
			s.mu.Lock()
			enabled, running := s.rec.Enabled, s.backend != nil
			s.mu.Unlock()
			if enabled && running {
				m.publish(ctx, s, c)
			}
		}()
	}
	wg.Wait()
}

// followDescriptors counts HS_DESC UPLOADED events per service.
func (m *Manager) followDescriptors(ctx context.Context, c *tor.Conn) {
	events, cancel, err := c.Subscribe("HS_DESC")
	if err != nil {
		m.log.Warn("cannot follow descriptor uploads", "err", err)
		return
	}
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			d, ok := tor.ParseHSDesc(ev)
			if !ok || (d.Action != "UPLOAD" && d.Action != "UPLOADED" && d.Action != "FAILED") {
				continue
			}
			for _, s := range m.all() {
				s.mu.Lock()
				if s.key != nil && s.rec.Address == d.Address && s.added == c {
					s.descriptorEvent(d)
				}
				s.mu.Unlock()
			}
		}
	}
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
	return m.info(s, details, showSecrets), nil
}

func (m *Manager) info(s *service, details, showSecrets bool) apitype.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := apitype.Service{
		Name:        s.def.Name,
		Title:       s.def.Title,
		Description: s.def.Description,
		Enabled:     s.rec.Enabled,
		State:       s.state,
		Reachable:   s.state == apitype.StateReachable,
		OnionPort:   s.def.OnionPorts[0].Virtual,
		ClientAuth:  m.value(s, catalog.OptClientAuth) == "true",
		Clients:     len(s.rec.Clients),
		Error:       s.err,
		Persistent:  m.store.IsPersistent(s.def.Name),
		Options:     m.optionsOut(s, showSecrets),
		Progress:    s.progress,
	}
	if s.rec.Address != "" {
		out.OnionAddress = s.rec.Address + ".onion"
	}
	out.Warnings = m.warnings(s)
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

// Enable makes the key if there is none, starts the backend, publishes the
// onion and waits, at most wait, for the self-check to reach it. A service
// that is not reachable in time stays enabled; its info says how far it got.
func (m *Manager) Enable(ctx context.Context, name string, wait time.Duration, onionKey []byte) (apitype.Service, error) {
	s, err := m.get(name)
	if err != nil {
		return apitype.Service{}, err
	}
	if wait <= 0 {
		wait = 120 * time.Second
	}
	deadline := time.Now().Add(wait)

	s.op.Lock()
	if len(onionKey) > 0 {
		if err := m.importKey(s, onionKey); err != nil {
			s.op.Unlock()
			return apitype.Service{}, err
		}
	}
	if err := m.ensureKeys(s); err != nil {
		s.op.Unlock()
		return apitype.Service{}, err
	}
	if err := m.startBackend(ctx, s); err != nil {
		s.op.Unlock()
		return apitype.Service{}, err
	}
	s.mu.Lock()
	s.rec.Enabled = true
	err = m.store.Save(s.rec)
	s.mu.Unlock()
	if err != nil {
		m.stopBackend(s, "", "")
		s.op.Unlock()
		return apitype.Service{}, fmt.Errorf("saving the state of %s: %w", name, err)
	}
	s.mu.Lock()
	current := s.added
	s.mu.Unlock()
	if c := m.torOf(s).Conn(); c != nil && c != current {
		m.publish(ctx, s, c)
	}
	s.op.Unlock()

	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	m.waitState(wctx, s, apitype.StateReachable, apitype.StateFailed)
	return m.info(s, false, false), nil
}

// waitState waits until the service is in one of the states, or ctx ends.
func (m *Manager) waitState(ctx context.Context, s *service, states ...string) {
	for {
		s.mu.Lock()
		st, ch := s.state, s.changed
		s.mu.Unlock()
		for _, w := range states {
			if st == w {
				return
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

func (m *Manager) ensureKeys(s *service) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == nil {
		k, err := onionkey.GenerateServiceKey()
		if err != nil {
			return err
		}
		// The key file is written first: the address is always derived
		// from it, so a kill between the two writes loses nothing.
		if err := m.store.WriteKey(s.def.Name, k.SecretKeyFile()); err != nil {
			return fmt.Errorf("saving the onion key of %s: %w", s.def.Name, err)
		}
		s.key = k
		s.rec.Address = k.Address()
	}
	if err := generateSecrets(s); err != nil {
		return err
	}
	if s.selfKey == nil {
		ck, err := onionkey.GenerateClientKey()
		if err != nil {
			return err
		}
		s.selfKey = ck
		s.rec.SelfCheckKey = ck.PrivateBase32()
	}
	if err := m.store.Save(s.rec); err != nil {
		return fmt.Errorf("saving the state of %s: %w", s.def.Name, err)
	}
	return nil
}

func (m *Manager) startBackend(ctx context.Context, s *service) error {
	s.mu.Lock()
	if s.backend != nil {
		s.mu.Unlock()
		return nil
	}
	s.setState(apitype.StateStarting, "")
	values := m.values(s)
	address := s.rec.Address
	s.mu.Unlock()
	b, err := startBackend(ctx, s.def, m.store, values, address, m.installer, m.log, func(p apitype.Progress) {
		s.mu.Lock()
		s.progress = p.Step
		s.notify(p)
		s.mu.Unlock()
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.progress = ""
	if err != nil {
		s.setState(apitype.StateFailed, "backend did not start: "+err.Error())
		return fmt.Errorf("starting %s: %w", s.def.Name, err)
	}
	s.backend = b
	m.hookBackend(s, b)
	s.mu.Unlock()
	err = m.applyFirewall(ctx)
	s.mu.Lock()
	if err != nil {
		b.Close()
		s.backend = nil
		s.setState(apitype.StateFailed, err.Error())
		return fmt.Errorf("starting %s: %w", s.def.Name, err)
	}
	return nil
}

// stopBackend stops the backend and the self-checks and, unless state is
// "", sets the state, with why as its reason. Call with s.op held.
func (m *Manager) stopBackend(s *service, state, why string) {
	s.mu.Lock()
	if s.stopChecks != nil {
		s.stopChecks()
		s.stopChecks = nil
	}
	had := s.backend != nil
	if had {
		s.backend.Close()
		s.backend = nil
	}
	if state != "" {
		s.setState(state, why)
	}
	s.mu.Unlock()
	if had {
		if err := m.applyFirewall(context.Background()); err != nil {
			m.log.Warn("firewall", "err", err)
		}
	}
}

// clientAuthKeys lists the public keys tor must accept: every client's
// and the daemon's own self-check key. Call with s.mu held.
func (s *service) clientAuthKeys() ([]string, error) {
	keys := []string{s.selfKey.PublicBase32()}
	for _, c := range s.rec.Clients {
		k, err := onionkey.ParseClientPrivateBase32(c.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("client %s of %s: %w", c.Name, s.def.Name, err)
		}
		keys = append(keys, k.PublicBase32())
	}
	return keys, nil
}

// publish (re-)adds the service's onion on c and starts its self-checks.
// Call with s.op held.
func (m *Manager) publish(ctx context.Context, s *service, c *tor.Conn) {
	m.publishOpts(ctx, s, c, false)
}

// publishOpts is publish; with drop, the open connections of the old onion
// are cut (a client was revoked: its open rendezvous circuit must not go
// on working with the re-added service).
func (m *Manager) publishOpts(ctx context.Context, s *service, c *tor.Conn, drop bool) {
	s.mu.Lock()
	if s.stopChecks != nil {
		s.stopChecks()
		s.stopChecks = nil
	}
	prev := s.added
	keys, err := s.clientAuthKeys()
	if err != nil || s.backend == nil {
		if err == nil {
			err = errors.New("backend not running")
		}
		s.setState(apitype.StateFailed, err.Error())
		s.mu.Unlock()
		return
	}
	req := tor.AddOnionRequest{Key: s.key}
	for _, p := range s.def.OnionPorts {
		target, ok := s.backend.Target(p.Target)
		if !ok {
			s.setState(apitype.StateFailed, fmt.Sprintf("onion port %d: no local port %q", p.Virtual, p.Target))
			s.mu.Unlock()
			return
		}
		req.Ports = append(req.Ports, tor.PortMapping{Virtual: p.Virtual, Target: target})
	}
	auth := m.value(s, catalog.OptClientAuth) == "true"
	if auth {
		req.ClientAuthV3 = keys
	}
	addr, selfKey := s.rec.Address, s.selfKey
	s.mu.Unlock()

	if prev == c {
		// Same connection: the old onion must go first, or tor refuses
		// the new one as a collision.
		if err := c.DelOnion(ctx, addr); err != nil {
			m.log.Warn("removing the old onion", "service", s.def.Name, "err", err)
		}
		if drop {
			m.dropConnections(ctx, s, c, addr)
		}
	}
	// Pace: at most PublishConcurrency descriptors on their way at once.
	pc := m.pacerOf(s)
	select {
	case pc.publishing <- struct{}{}:
	case <-ctx.Done():
		s.mu.Lock()
		s.setState(apitype.StateFailed, "publishing the onion: "+ctx.Err().Error())
		s.mu.Unlock()
		return
	}
	if _, err := c.AddOnion(ctx, req); err != nil {
		<-pc.publishing
		s.mu.Lock()
		s.setState(apitype.StateFailed, "publishing the onion: "+err.Error())
		s.mu.Unlock()
		return
	}
	// The daemon's own credential, for the self-check through tor's SOCKS
	// port. It lives only in tor's memory.
	if !auth {
		c.OnionClientAuthRemove(ctx, addr)
	} else if err := c.OnionClientAuthAdd(ctx, addr, selfKey, "", false); err != nil {
		m.log.Warn("adding the self-check credential", "service", s.def.Name, "err", err)
	}
	cctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.added = c
	s.uploads = 0
	s.inFlight, s.settled = map[string]bool{}, make(chan struct{})
	go func(settled <-chan struct{}) {
		select {
		case <-settled:
		case <-time.After(publishTimeout):
		}
		<-pc.publishing
	}(s.settled)
	s.stopChecks = cancel
	s.setState(apitype.StateAddressed, "")
	s.mu.Unlock()
	m.log.Info("onion added", "service", s.def.Name, "address", addr+".onion")
	go m.checkLoop(cctx, s, c)
}

// checkLoop proves the service reachable, then keeps checking it; after
// FailuresBeforeRepublish failures in a row it re-publishes the onion.
func (m *Manager) checkLoop(ctx context.Context, s *service, c *tor.Conn) {
	// Wait until the descriptor reached its directories (or give up
	// waiting after 30 s: the check itself says whether the service can
	// be reached). Asking earlier would make tor remember the directories
	// as lacking it, and not ask them again for a while (15 minutes on
	// the public network).
	s.mu.Lock()
	settled := s.settled
	s.mu.Unlock()
	select {
	case <-settled:
	case <-time.After(publishTimeout):
	case <-ctx.Done():
		return
	}

	failures := 0
	retry := 500 * time.Millisecond
	reached := false
	for ctx.Err() == nil {
		res := m.checkOnce(ctx, s)
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		s.lastCheck = &res
		if res.OK {
			failures, reached, retry = 0, true, 500*time.Millisecond
			if s.state != apitype.StateReachable {
				s.setState(apitype.StateReachable, "")
			}
		} else {
			failures++
			if reached {
				s.setState(apitype.StateFailing, "self-check failed: "+res.Error)
			} else {
				s.err = "not reachable yet: " + res.Error
			}
		}
		s.mu.Unlock()

		wait := m.opt.CheckInterval
		switch {
		case !res.OK && reached && failures >= m.opt.FailuresBeforeRepublish:
			m.log.Warn("service unreachable, re-publishing", "service", s.def.Name, "err", res.Error)
			go m.republish(s, c)
			return
		case !res.OK && !reached:
			// Not reachable yet: the descriptor may still be on its way.
			wait = retry
			retry = min(retry*2, 5*time.Second)
		case !res.OK:
			wait = min(10*time.Second, m.opt.CheckInterval)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
	}
}

func (m *Manager) republish(s *service, c *tor.Conn) {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	ok := s.rec.Enabled && s.backend != nil && s.added == c
	s.republished++
	s.mu.Unlock()
	if ok && m.torOf(s).Conn() == c {
		m.publish(context.Background(), s, c)
	}
}

// checkOnce connects to the service through tor's SOCKS port and speaks
// its protocol.
func (m *Manager) checkOnce(ctx context.Context, s *service) apitype.Check {
	// Pace: at most PublishConcurrency checks under way at once.
	pc := m.pacerOf(s)
	select {
	case pc.checking <- struct{}{}:
		defer func() { <-pc.checking }()
	case <-ctx.Done():
		return apitype.Check{Time: time.Now(), Error: ctx.Err().Error()}
	}
	start := time.Now()
	s.mu.Lock()
	host := s.rec.Address + ".onion"
	port := s.def.OnionPorts[0].Virtual
	s.mu.Unlock()
	err := func() error {
		proxy := m.torOf(s).SocksAddr()
		if proxy == "" {
			return errors.New("tor has no SOCKS port")
		}
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		target := fmt.Sprintf("%s:%d", host, port)
		conn, err := socks.Dial(cctx, proxy, target, nil)
		if socks.IsCode(err, socks.CodeOnionMissingAuth) && m.restoreSelfCredential(cctx, s) {
			conn, err = socks.Dial(cctx, proxy, target, nil)
		}
		if err != nil {
			return err
		}
		defer conn.Close()
		return probe(s.def, conn, host)
	}()
	res := apitype.Check{Time: start, OK: err == nil, Duration: time.Since(start)}
	if err != nil {
		res.Error = err.Error()
	}
	return res
}

// restoreSelfCredential gives tor the daemon's own client credential
// again. Tor forgets credentials added over the control port whenever it
// reloads its configuration (SETCONF, SIGHUP), so a "missing client
// authorization" answer to the self-check is repaired here.
func (m *Manager) restoreSelfCredential(ctx context.Context, s *service) bool {
	c := m.torOf(s).Conn()
	s.mu.Lock()
	addr, key := s.rec.Address, s.selfKey
	s.mu.Unlock()
	if c == nil || key == nil {
		return false
	}
	if err := c.OnionClientAuthAdd(ctx, addr, key, "", false); err != nil {
		m.log.Warn("restoring the self-check credential", "service", s.def.Name, "err", err)
		return false
	}
	m.log.Info("self-check credential restored", "service", s.def.Name)
	return true
}

// Disable stops the backend and withdraws the onion. Key and clients stay.
func (m *Manager) Disable(ctx context.Context, name string) (apitype.Service, error) {
	return m.disable(ctx, name, "")
}

// disable is Disable; why, if not "", is the reason status gives.
func (m *Manager) disable(ctx context.Context, name, why string) (apitype.Service, error) {
	s, err := m.get(name)
	if err != nil {
		return apitype.Service{}, err
	}
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	s.rec.Enabled = false
	err = m.store.Save(s.rec)
	added, addr := s.added, s.rec.Address
	s.added = nil
	s.mu.Unlock()
	if err != nil {
		return apitype.Service{}, fmt.Errorf("saving the state of %s: %w", name, err)
	}
	if added != nil {
		if err := added.DelOnion(ctx, addr); err != nil {
			m.log.Warn("removing the onion", "service", name, "err", err)
		}
		added.OnionClientAuthRemove(ctx, addr)
		m.dropConnections(ctx, s, added, addr)
	}
	m.stopBackend(s, apitype.StateDisabled, why)
	m.releaseTor(s)
	return m.info(s, false, false), nil
}

// dropConnections closes the rendezvous circuits of a withdrawn onion.
func (m *Manager) dropConnections(ctx context.Context, s *service, c *tor.Conn, addr string) {
	n, err := c.CloseServiceCircuits(ctx, addr)
	if err != nil {
		m.log.Warn("closing open connections", "service", s.def.Name, "err", err)
		return
	}
	m.log.Info("open connections closed", "service", s.def.Name, "circuits", n)
}

// Stop stops every backend (daemon shutdown) and removes the firewall
// table. The stored state stays as is, so enabled services come back with
// the daemon.
func (m *Manager) Stop() {
	for _, s := range m.all() {
		s.op.Lock()
		m.stopBackend(s, "", "")
		s.op.Unlock()
	}
	if m.opt.Firewall != nil {
		if err := m.opt.Firewall.Remove(context.Background()); err != nil {
			m.log.Warn("removing the firewall table", "err", err)
		}
	}
}

// Share returns what a client needs to connect; with a client name, its
// credential too.
func (m *Manager) Share(name, client string) (apitype.Share, error) {
	s, err := m.get(name)
	if err != nil {
		return apitype.Share{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rec.Address == "" {
		return apitype.Share{}, &Error{Status: http.StatusConflict,
			Msg:  fmt.Sprintf("%s has no onion address yet", name),
			Hint: fmt.Sprintf("enable it first: tails-server enable %s", name)}
	}
	addr := s.rec.Address + ".onion"
	port := s.def.OnionPorts[0].Virtual
	configDir, dataDir := dirs(m.store, name)
	env := catalog.Env{Address: addr, Config: configDir, Data: dataDir}
	fields := map[string]any{"address": addr, "port": port}
	uri, err := catalog.Expand(s.def, s.def.Connect.URI, m.values(s), env, fields)
	if err != nil {
		return apitype.Share{}, err
	}
	details, err := shareDetails(s.def, m.values(s), env, fields)
	if err != nil {
		return apitype.Share{}, err
	}
	var instr []string
	for _, in := range s.def.Connect.Instructions {
		instr = append(instr, in.Client+": "+in.Text)
	}
	out := apitype.Share{
		Service:      name,
		OnionAddress: addr,
		OnionPort:    port,
		URI:          uri,
		Instructions: strings.Join(instr, "\n"),
		ClientAuth:   m.value(s, catalog.OptClientAuth) == "true",
		Details:      details,
	}
	if client != "" {
		c := s.rec.Client(client)
		if c == nil {
			return apitype.Share{}, notFound("%s has no client %q", name, client)
		}
		ac, err := clientOut(s, c, true)
		if err != nil {
			return apitype.Share{}, err
		}
		out.Client, out.Credential = client, ac.Credential
	} else if out.ClientAuth && len(s.rec.Clients) > 0 {
		out.Warnings = append(out.Warnings, fmt.Sprintf("client authorization is on: give each person their own credential (`tails-server share %s --client NAME`)", name))
	}
	if !s.rec.Enabled {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%s is disabled: enable it before sharing", name))
	}
	out.Warnings = append(out.Warnings, m.warnings(s)...)
	return out, nil
}

var clientName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`)

func validClientName(name string) error {
	if !clientName.MatchString(name) {
		return &Error{Status: http.StatusBadRequest,
			Msg:  fmt.Sprintf("invalid client name %q", name),
			Hint: "use 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit"}
	}
	return nil
}

// Clients lists a service's clients (without their credentials).
func (m *Manager) Clients(name string) ([]apitype.Client, error) {
	s, err := m.get(name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []apitype.Client{}
	for _, c := range s.rec.Clients {
		ac, err := clientOut(s, &c, false)
		if err != nil {
			return nil, err
		}
		out = append(out, ac)
	}
	return out, nil
}

func clientOut(s *service, c *store.Client, secret bool) (apitype.Client, error) {
	k, err := onionkey.ParseClientPrivateBase32(c.PrivateKey)
	if err != nil {
		return apitype.Client{}, fmt.Errorf("client %s of %s: %w", c.Name, s.def.Name, err)
	}
	out := apitype.Client{Name: c.Name, PublicKey: k.PublicBase32(), Added: c.Added}
	if secret && s.rec.Address != "" {
		out.Credential = k.AuthPrivateLine(s.rec.Address)
	}
	return out, nil
}

// Client returns one client with its credential.
func (m *Manager) Client(name, client string) (apitype.Client, error) {
	s, err := m.get(name)
	if err != nil {
		return apitype.Client{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.rec.Client(client)
	if c == nil {
		return apitype.Client{}, notFound("%s has no client %q", name, client)
	}
	if s.rec.Address == "" {
		return apitype.Client{}, &Error{Status: http.StatusConflict,
			Msg:  fmt.Sprintf("%s has no onion address yet", name),
			Hint: fmt.Sprintf("enable it first: tails-server enable %s", name)}
	}
	return clientOut(s, c, true)
}

// AddClient makes a new client key pair, stores it, and re-publishes the
// onion if the service is enabled so that the client may connect.
func (m *Manager) AddClient(ctx context.Context, name, client string) (apitype.Client, error) {
	s, err := m.get(name)
	if err != nil {
		return apitype.Client{}, err
	}
	if err := validClientName(client); err != nil {
		return apitype.Client{}, err
	}
	s.op.Lock()
	defer s.op.Unlock()
	if err := m.ensureKeys(s); err != nil {
		return apitype.Client{}, err
	}
	k, err := onionkey.GenerateClientKey()
	if err != nil {
		return apitype.Client{}, err
	}
	s.mu.Lock()
	if s.rec.Client(client) != nil {
		s.mu.Unlock()
		return apitype.Client{}, &Error{Status: http.StatusConflict,
			Msg:  fmt.Sprintf("%s already has a client %q", name, client),
			Hint: fmt.Sprintf("show its credential with `tails-server client show %s %s`, or pick another name", name, client)}
	}
	rec := *s.rec
	rec.Clients = append(append([]store.Client(nil), s.rec.Clients...),
		store.Client{Name: client, PrivateKey: k.PrivateBase32(), Added: time.Now().UTC().Truncate(time.Second)})
	if err := m.store.Save(&rec); err != nil {
		s.mu.Unlock()
		return apitype.Client{}, fmt.Errorf("saving the state of %s: %w", name, err)
	}
	s.rec = &rec
	out, err := clientOut(s, s.rec.Client(client), true)
	s.mu.Unlock()
	m.republishIfUp(ctx, s, false)
	return out, err
}

// RemoveClient forgets a client and re-publishes the onion without it, so
// that its credential no longer opens the service.
func (m *Manager) RemoveClient(ctx context.Context, name, client string) error {
	s, err := m.get(name)
	if err != nil {
		return err
	}
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	if s.rec.Client(client) == nil {
		s.mu.Unlock()
		return notFound("%s has no client %q", name, client)
	}
	rec := *s.rec
	rec.Clients = nil
	for _, c := range s.rec.Clients {
		if c.Name != client {
			rec.Clients = append(rec.Clients, c)
		}
	}
	if err := m.store.Save(&rec); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("saving the state of %s: %w", name, err)
	}
	s.rec = &rec
	s.mu.Unlock()
	m.republishIfUp(ctx, s, true)
	return nil
}

// republishIfUp re-adds the onion with the current client list, cutting
// open connections if drop. Call with s.op held.
func (m *Manager) republishIfUp(ctx context.Context, s *service, drop bool) {
	s.mu.Lock()
	up := s.rec.Enabled && s.backend != nil
	s.mu.Unlock()
	if !up {
		return
	}
	if c := m.torOf(s).Conn(); c != nil {
		m.publishOpts(ctx, s, c, drop)
	}
}

// publishTimeout bounds the wait for a descriptor to reach its
// directories, before the self-check asks anyway.
const publishTimeout = 30 * time.Second

// descriptorEvent follows the uploads of the service's descriptor: UPLOAD
// starts one to a directory, UPLOADED or FAILED from that directory ends
// it. A FAILED from a directory no upload went to is the self-check's own
// fetch, not an upload. Call with s.mu held.
func (s *service) descriptorEvent(d tor.HSDesc) {
	switch d.Action {
	case "UPLOAD":
		s.inFlight[d.HSDir] = true
		return
	case "UPLOADED":
		s.uploads++
		s.lastUpload = time.Now()
		if s.state == apitype.StateAddressed {
			s.setState(apitype.StatePublished, "")
		}
	}
	if !s.inFlight[d.HSDir] && d.Action == "FAILED" {
		return
	}
	delete(s.inFlight, d.HSDir)
	if s.uploads > 0 && len(s.inFlight) == 0 {
		select {
		case <-s.settled:
		default:
			close(s.settled)
		}
	}
}

package torsup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"tails-server/internal/apitype"
	"tails-server/internal/store"
	"tails-server/internal/tor"
)

// DefaultOnionsPerTor is how many onion services one tor of the daemon
// carries before the daemon launches another. One tor spends CPU time on
// every waiting descriptor upload for every circuit it has open, so the
// work of bringing its onions back after a restart grows much faster than
// their number: on the private network, with one tor, 12 onions were all
// reachable again 4.8 s after a kill, 25 after 8.7 s, 50 after 15-18 s,
// with that tor at 100 % of a core (perf: circuit_is_acceptable and the
// node lookups under it). Ten per tor keeps each tor's share small, and
// most users, who host a few services, still run one tor.
const DefaultOnionsPerTor = 10

// Pool runs the daemon's tors. The first one is the Supervisor of the
// daemon's configuration, with the stream isolation ports; in the modes that
// launch tor, Tor(i) launches more, each with the same network settings but
// no isolation ports and its DataDirectory beside the first one's (DIR.2,
// DIR.3, ...). In system mode there is only the system tor.
//
// Each further tor picks its own entry guards, as any tor does. To keep the
// daemon's guards few, a further tor that has no state file yet starts from
// a copy of the first tor's (its guards), when the first has saved one.
type Pool struct {
	first   *Supervisor
	perTor  int
	checker *Supervisor // nil until AddChecker

	mu      sync.Mutex
	sups    []*Supervisor
	ctx     context.Context // set by Run; nil before
	stopped bool            // Run is returning: launch no more
	ready   func(ctx context.Context, i int, c *tor.Conn)
	wg      sync.WaitGroup
}

// NewPool returns the pool of the daemon's tors, first being the first one.
// perTor is how many onions one tor carries (0: DefaultOnionsPerTor); in
// system mode it is ignored.
func NewPool(first *Supervisor, perTor int) *Pool {
	if perTor <= 0 {
		perTor = DefaultOnionsPerTor
	}
	return &Pool{first: first, perTor: perTor, sups: []*Supervisor{first}}
}

// First returns the first tor, the one with the isolation ports.
func (p *Pool) First() *Supervisor { return p.first }

// AddChecker adds the daemon's checker tor, with its DataDirectory in dir
// (see Config.Checker), and returns it; call it before Run. It joins the
// network the first tor is on: with the same lines in testnet and public
// modes, with the system tor's network settings in system mode. It runs as
// the first tor's user.
func (p *Pool) AddChecker(dir string) *Supervisor {
	cfg := p.first.config()
	cfg.DataDir = dir
	cfg.IsolationTorrc = nil
	cfg.Checker = true
	cfg.Ready = nil
	cfg.Log = cfg.Log.With("tor", "checker")
	if cfg.Mode == System {
		cfg.Mode, cfg.NetworkFrom = Public, p.first
	}
	p.checker = New(cfg)
	return p.checker
}

// Checker returns the checker tor, nil if none was added.
func (p *Pool) Checker() *Supervisor { return p.checker }

// OnionsPerTor is how many onions one tor carries; 0 means no limit (system
// mode, where the daemon cannot launch tors).
func (p *Pool) OnionsPerTor() int {
	if p.first.cfg.Mode == System {
		return 0
	}
	return p.perTor
}

// SetReady sets the hook called after every (re)connection to each tor,
// with the tor's index; call it before Run.
func (p *Pool) SetReady(f func(ctx context.Context, i int, c *tor.Conn)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ready = f
	for i, s := range p.sups {
		s.SetReady(p.readyHook(i))
	}
}

func (p *Pool) readyHook(i int) func(ctx context.Context, c *tor.Conn) {
	return func(ctx context.Context, c *tor.Conn) {
		p.mu.Lock()
		f := p.ready
		p.mu.Unlock()
		if f != nil {
			f(ctx, i, c)
		}
	}
}

// Tor returns the i-th tor (0 the first), launching the missing ones up to
// it. In system mode every index is the system tor.
func (p *Pool) Tor(i int) *Supervisor {
	if i <= 0 || p.first.cfg.Mode == System {
		return p.first
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.sups) <= i {
		n := len(p.sups)
		cfg := p.first.config()
		cfg.DataDir = furtherDataDir(cfg.DataDir, n)
		cfg.IsolationTorrc = nil
		cfg.Log = cfg.Log.With("tor", n+1)
		s := New(cfg)
		s.SetReady(p.readyHook(n))
		p.sups = append(p.sups, s)
		if p.ctx != nil {
			p.start(n, s)
		}
	}
	return p.sups[i]
}

// All returns the tors launched so far, the first one first.
func (p *Pool) All() []*Supervisor {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Supervisor(nil), p.sups...)
}

// Statuses returns what is known of each tor, the first one first.
func (p *Pool) Statuses() []apitype.Tor {
	var out []apitype.Tor
	for _, s := range p.All() {
		out = append(out, s.Status())
	}
	return out
}

// Run runs every tor, those launched later included, until ctx ends, and
// returns when all have stopped.
func (p *Pool) Run(ctx context.Context) {
	p.mu.Lock()
	p.ctx = ctx
	for i, s := range p.sups {
		p.start(i, s)
	}
	if c := p.checker; c != nil {
		if p.first.cfg.Mode != System {
			seedState(p.first.DataDir(), c.DataDir())
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			c.Run(ctx)
		}()
	}
	p.mu.Unlock()
	<-ctx.Done()
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.wg.Wait()
}

// start runs the i-th tor; call with p.mu held and p.ctx set.
func (p *Pool) start(i int, s *Supervisor) {
	if p.stopped {
		return
	}
	if i > 0 {
		seedState(p.first.DataDir(), s.DataDir())
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		s.Run(p.ctx)
	}()
}

// SetDataDir sets the first tor's DataDirectory (and so the others') for
// the next launch; call before Run.
func (p *Pool) SetDataDir(dir string) {
	for i, s := range p.All() {
		s.SetDataDir(furtherDataDir(dir, i))
	}
}

// MoveDataDir moves every tor's DataDirectory so that the first one's is
// dir, as Supervisor.MoveDataDir does for one.
func (p *Pool) MoveDataDir(dir string, copyTree func(src, dst string) error) error {
	var errs []error
	for i, s := range p.All() {
		if err := s.MoveDataDir(furtherDataDir(dir, i), copyTree); err != nil {
			errs = append(errs, fmt.Errorf("tor %d: %w", i+1, err))
		}
	}
	return errors.Join(errs...)
}

// furtherDataDir is the DataDirectory of the i-th tor when the first one's
// is dir.
func furtherDataDir(dir string, i int) string {
	if i == 0 {
		return dir
	}
	return fmt.Sprintf("%s.%d", dir, i+1)
}

// seedState gives a further tor that has never run the first tor's saved
// state (its entry guards), so that the daemon's tors share their guards.
func seedState(firstDir, dir string) {
	dst := filepath.Join(dir, "state")
	if _, err := os.Stat(dst); err == nil {
		return
	}
	b, err := os.ReadFile(filepath.Join(firstDir, "state"))
	if err != nil {
		return
	}
	if os.MkdirAll(dir, 0o700) == nil {
		store.WriteFile(dst, b, 0o600)
	}
}

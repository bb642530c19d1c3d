// Package balance runs Onionbalance masters (front services) for the
// daemon: `balance create NAME` makes a master key (stored like a
// service's onion key: Tor's hs_ed25519_secret_key format, 0600, in the
// state dir), `balance add NAME INSTANCE.onion` adds an instance (a public
// service of another daemon whose balance-master option names this
// master), and for each master with at least one instance the package runs
// Debian's onionbalance as a supervised backend (internal/supervise) with
// a config.yaml it writes (0600: the key path, the instances, the status
// socket).
//
// Onionbalance talks to tor over a control connection with full control,
// and needs microdescriptors (it computes the hash ring from the
// microdescriptor consensus), which the daemon's own tor on the private
// network does without (UseMicrodescriptors 0: the loopback-only exit is
// invisible in microdescriptors). So onionbalance gets a tor of its own,
// the front tor (torsup, as the daemon's other tors, its DataDirectory in
// the volatile root), started when the first master has an instance and
// carrying nothing else. With the daemon as root, the front tor and
// onionbalance both run as RunUser (Debian's onionbalance user), which
// owns the masters' directories and nothing else of the daemon's; and
// onionbalance authenticates with that tor's cookie (stem reads the cookie path from PROTOCOLINFO: no
// secret in argv, env or config). Its --socket points at a path that does
// not exist, so that it never falls back to a system tor's control socket.
//
// Status comes from onionbalance's own status socket (JSON: each
// instance's last received descriptor and introduction points, the last
// publication attempts of the master's descriptors), which says what
// onionbalance believes without parsing a log meant for people; and from
// tor: a probe of each instance through the front tor (a rendezvous) tells
// an instance that is gone but whose descriptor the directories still
// serve, which onionbalance cannot see for up to the descriptor's
// lifetime.
package balance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"tails-server/internal/apitype"
	"tails-server/internal/onionkey"
	"tails-server/internal/store"
	"tails-server/internal/supervise"
	"tails-server/internal/torsup"
)

// Error is a failure the user can act on; Status is the HTTP status the
// API answers with (400 when 0).
type Error struct {
	Status int
	Msg    string
	Hint   string
}

func (e *Error) Error() string { return e.Msg }

// MaxInstances is the most instances a master takes: with two
// introduction points each (onionbalance's N_INTROS_PER_INSTANCE), the
// master's descriptor holds at most about 20 introduction points before it
// passes tor's size limit; 8 instances keep it well under.
const MaxInstances = 8

// Options configure a Manager.
type Options struct {
	// Dir holds the masters, persistently: Dir/NAME/ (0700) with
	// balance.json, hs_ed25519_secret_key and config.yaml (given to
	// RunUser when there is one), and Dir/NAME.onionbalance.log.
	Dir string
	// RunDir holds what goes at reboot: the status sockets and the front
	// tor's DataDirectory (RunDir/tor).
	RunDir string
	// Binary is the onionbalance program (default DefaultBinary).
	Binary string
	// Testnet runs onionbalance with --is-testnet (the private network's
	// 20-second voting interval).
	Testnet bool
	// Tor is how to launch the front tor: Mode, TorBinary, JoinTorrc and
	// User are used; DataDir, Ready and Log are set here.
	Tor torsup.Config
	Log *slog.Logger
}

// record is a master as stored in balance.json.
type record struct {
	Name      string   `json:"name"`
	Address   string   `json:"address"`   // without ".onion"
	Instances []string `json:"instances"` // without ".onion"
}

// Manager keeps the masters and their onionbalance processes.
type Manager struct {
	opt Options
	log *slog.Logger

	mu      sync.Mutex
	ctx     context.Context
	recs    map[string]*record
	procs   map[string]*supervise.Process
	front   *torsup.Supervisor
	control string // the front tor's control port, "" while it is not ready
	socks   string // its SOCKS port
}

// New loads the masters kept in opt.Dir.
func New(opt Options) (*Manager, error) {
	if opt.Binary == "" {
		opt.Binary = DefaultBinary
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	m := &Manager{opt: opt, log: opt.Log, recs: map[string]*record{}, procs: map[string]*supervise.Process{}}
	entries, err := os.ReadDir(opt.Dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("balance: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || ValidName(e.Name()) != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(opt.Dir, e.Name(), "balance.json"))
		if err != nil {
			continue // a create cut short: no record, nothing to run
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil || r.Name != e.Name() {
			return nil, fmt.Errorf("balance: %s: malformed balance.json", filepath.Join(opt.Dir, e.Name()))
		}
		m.recs[r.Name] = &r
	}
	return m, nil
}

// Start runs the masters that have instances until ctx ends.
func (m *Manager) Start(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ctx = ctx
	for _, r := range m.recs {
		if len(r.Instances) > 0 {
			m.ensureFront()
			break
		}
	}
	go func() {
		<-ctx.Done()
		m.Stop()
	}()
}

// Stop stops every onionbalance (the front tor stops with Start's ctx).
func (m *Manager) Stop() {
	m.mu.Lock()
	procs := m.procs
	m.procs = map[string]*supervise.Process{}
	m.mu.Unlock()
	for _, p := range procs {
		p.Stop()
	}
}

func (m *Manager) dir(name string) string { return filepath.Join(m.opt.Dir, name) }

func (m *Manager) keyPath(name string) string {
	return filepath.Join(m.dir(name), "hs_ed25519_secret_key")
}

func (m *Manager) save(r *record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return store.WriteFile(filepath.Join(m.dir(r.Name), "balance.json"), append(b, '\n'), 0o600)
}

// out is the API's view of r. Call with m.mu held.
func (m *Manager) out(r *record) apitype.Balance {
	b := apitype.Balance{Name: r.Name, Address: r.Address + ".onion", Instances: []string{}}
	for _, a := range r.Instances {
		b.Instances = append(b.Instances, a+".onion")
	}
	if p := m.procs[r.Name]; p != nil {
		b.Running = p.Status().Running
	}
	switch {
	case len(r.Instances) == 0:
		b.Warnings = append(b.Warnings, "no instance yet: onionbalance starts with the first (tails-server balance add "+r.Name+" INSTANCE.onion, after `set-option SERVICE balance-master "+b.Address+"` on the instance's host)")
	case len(r.Instances) > MaxInstances-2:
		b.Warnings = append(b.Warnings, fmt.Sprintf("%d instances: the master's descriptor takes about %d (two introduction points each)", len(r.Instances), MaxInstances))
	}
	return b
}

func (m *Manager) get(name string) (*record, error) {
	r := m.recs[name]
	if r == nil {
		return nil, &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("no balance %q", name), Hint: "tails-server balance list shows them; tails-server balance create NAME makes one"}
	}
	return r, nil
}

// Create makes a master called name with key (Tor's key file or
// ED25519-V3:<base64>), or a new key when key is empty.
func (m *Manager) Create(name string, key []byte) (apitype.Balance, error) {
	if err := ValidName(name); err != nil {
		return apitype.Balance{}, &Error{Msg: err.Error()}
	}
	if err := CheckBinary(m.opt.Binary); err != nil {
		return apitype.Balance{}, err
	}
	var k *onionkey.ServiceKey
	var err error
	if len(key) > 0 {
		k, err = onionkey.ParseSecretKeyFile(key)
		if err != nil {
			k, err = onionkey.ParseTorBlob(strings.TrimSpace(string(key)))
		}
		if err != nil {
			return apitype.Balance{}, &Error{Msg: "the onion key is neither a hs_ed25519_secret_key file nor ED25519-V3:<base64>",
				Hint: "give Tor's hs_ed25519_secret_key of the master, or leave --onion-key out for a new one"}
		}
	} else if k, err = onionkey.GenerateServiceKey(); err != nil {
		return apitype.Balance{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.recs[name]; ok {
		return apitype.Balance{}, &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("balance %q exists already", name), Hint: "tails-server balance status " + name}
	}
	for _, r := range m.recs {
		if r.Address == k.Address() {
			return apitype.Balance{}, &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("balance %q has that key already", r.Name)}
		}
	}
	if err := os.MkdirAll(m.opt.Dir, 0o700); err != nil {
		return apitype.Balance{}, err
	}
	dir := m.dir(name)
	os.RemoveAll(dir) // what a create cut short left, with no record
	if err := os.Mkdir(dir, 0o700); err != nil {
		return apitype.Balance{}, err
	}
	r := &record{Name: name, Address: k.Address(), Instances: []string{}}
	// The key first, the record last: a record always has its key.
	err = store.WriteFile(m.keyPath(name), k.SecretKeyFile(), 0o600)
	if err == nil {
		err = m.save(r)
	}
	if err != nil {
		os.RemoveAll(dir)
		return apitype.Balance{}, fmt.Errorf("saving balance %s: %w", name, err)
	}
	m.recs[name] = r
	m.log.Info("balance created", "balance", name, "address", r.Address+".onion")
	return m.out(r), nil
}

// Add adds an instance to a master and (re)starts its onionbalance.
func (m *Manager) Add(name, addr string) (apitype.Balance, error) {
	a, err := NormalizeInstance(addr)
	if err != nil {
		return apitype.Balance{}, &Error{Msg: err.Error()}
	}
	if err := CheckBinary(m.opt.Binary); err != nil {
		return apitype.Balance{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.get(name)
	if err != nil {
		return apitype.Balance{}, err
	}
	if a == r.Address {
		return apitype.Balance{}, &Error{Msg: fmt.Sprintf("%s.onion is the master's own address, not an instance", a), Hint: "add the address of a service whose balance-master is " + r.Address + ".onion"}
	}
	for _, x := range r.Instances {
		if x == a {
			return apitype.Balance{}, &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("instance %s.onion is already in balance %s", a, name), Hint: "tails-server balance status " + name + " shows its instances"}
		}
	}
	if len(r.Instances) >= MaxInstances {
		return apitype.Balance{}, &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("balance %s has %d instances, the most a master's descriptor takes", name, MaxInstances), Hint: "remove one first, or make a second master"}
	}
	nr := *r
	nr.Instances = append(append([]string{}, r.Instances...), a)
	if err := m.save(&nr); err != nil {
		return apitype.Balance{}, fmt.Errorf("saving balance %s: %w", name, err)
	}
	*r = nr
	m.ensureFront()
	m.restart(r)
	return m.out(r), nil
}

// Remove takes an instance out of a master; onionbalance restarts
// without it (or stops, with none left).
func (m *Manager) Remove(name, addr string) (apitype.Balance, error) {
	a, err := NormalizeInstance(addr)
	if err != nil {
		return apitype.Balance{}, &Error{Msg: err.Error()}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.get(name)
	if err != nil {
		return apitype.Balance{}, err
	}
	nr := *r
	nr.Instances = nil
	for _, x := range r.Instances {
		if x != a {
			nr.Instances = append(nr.Instances, x)
		}
	}
	if len(nr.Instances) == len(r.Instances) {
		return apitype.Balance{}, &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("instance %s.onion is not in balance %s", a, name), Hint: "tails-server balance status " + name + " shows its instances"}
	}
	if nr.Instances == nil {
		nr.Instances = []string{}
	}
	if err := m.save(&nr); err != nil {
		return apitype.Balance{}, fmt.Errorf("saving balance %s: %w", name, err)
	}
	*r = nr
	m.restart(r)
	return m.out(r), nil
}

// Delete stops a master's onionbalance and deletes it, key included.
func (m *Manager) Delete(name string) error {
	m.mu.Lock()
	r, err := m.get(name)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	p := m.procs[name]
	delete(m.procs, name)
	delete(m.recs, name)
	m.mu.Unlock()
	if p != nil {
		p.Stop()
	}
	// The record first: a master without one is not loaded again.
	os.Remove(filepath.Join(m.dir(name), "balance.json"))
	store.SyncDir(m.dir(name))
	if err := os.RemoveAll(m.dir(name)); err != nil {
		return fmt.Errorf("deleting balance %s: %w", name, err)
	}
	os.Remove(m.socketPath(name))
	os.Remove(m.logPath(name))
	os.Remove(m.logPath(name) + ".1")
	m.log.Info("balance deleted", "balance", name, "address", r.Address+".onion")
	return nil
}

// List returns the masters by name.
func (m *Manager) List() apitype.BalanceList {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := apitype.BalanceList{Balances: []apitype.Balance{}}
	for _, r := range m.recs {
		l.Balances = append(l.Balances, m.out(r))
	}
	sort.Slice(l.Balances, func(i, j int) bool { return l.Balances[i].Name < l.Balances[j].Name })
	return l
}

// Logs returns the last n lines of a master's onionbalance output.
func (m *Manager) Logs(name string, n int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.get(name); err != nil {
		return nil, err
	}
	if p := m.procs[name]; p != nil {
		return p.Logs(n), nil
	}
	return []string{}, nil
}

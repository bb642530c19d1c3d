package services

// Publication through tor's configuration, for the Onionbalance
// instances (balance-master set). Tor reads an instance's ob_config only
// for a service configured with HiddenServiceDir (ADD_ONION cannot carry
// HiddenServiceOnionbalanceInstance), so such a service is one
// HiddenServiceDir of its tor: the key, which stays stored as for every
// service, is copied into that directory in tor's own format, beside an
// ob_config naming the master, and the tor's whole hidden-service group
// (every instance it carries) is set at once with SETCONF: SETCONF of one
// HiddenServiceDir replaces all of them. The group is set again after a
// tor restart (TorReady publishes every enabled service), and without the
// service when it is withdrawn, which also removes its directory.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"tails-server/internal/catalog"
	"tails-server/internal/onionkey"
	"tails-server/internal/safefs"
	"tails-server/internal/tor"
)

// HSDirRoot is the directory, inside the hosting tor's DataDirectory,
// that holds the HiddenServiceDir of each instance: HSDirRoot/SERVICE.
const HSDirRoot = "tails-server-onions"

// dirService is one service of a tor's hidden-service group.
type dirService struct {
	Name   string // the service's name, its directory's
	Dir    string // its HiddenServiceDir
	Master string // the master's address, "ADDRESS.onion"
	Ports  []tor.PortMapping
	// MaxStreams, with HiddenServiceMaxStreamsCloseCircuit, when not 0.
	MaxStreams int
	PoW        *tor.PoWParams
}

// dirGroup is the hidden-service group of one tor: the services published
// through its configuration, by name. mu serialises the SETCONFs.
type dirGroup struct {
	mu   sync.Mutex
	svcs map[string]dirService
}

// hsGroup is the SETCONF of a group: each service's HiddenServiceDir
// first, then its options, in name order; none resets the group.
func hsGroup(svcs map[string]dirService, pow bool) []tor.KeyValue {
	if len(svcs) == 0 {
		return []tor.KeyValue{{Key: "HiddenServiceDir"}}
	}
	names := make([]string, 0, len(svcs))
	for n := range svcs {
		names = append(names, n)
	}
	sort.Strings(names)
	var kv []tor.KeyValue
	add := func(k, v string) { kv = append(kv, tor.KeyValue{Key: k, Value: v}) }
	for _, n := range names {
		d := svcs[n]
		add("HiddenServiceDir", d.Dir)
		for _, p := range d.Ports {
			add("HiddenServicePort", strconv.Itoa(p.Virtual)+" "+p.Target)
		}
		add("HiddenServiceOnionbalanceInstance", "1")
		if d.MaxStreams > 0 {
			add("HiddenServiceMaxStreams", strconv.Itoa(d.MaxStreams))
			add("HiddenServiceMaxStreamsCloseCircuit", "1")
		}
		if pow && d.PoW != nil {
			add("HiddenServicePoWDefensesEnabled", "1")
			add("HiddenServicePoWQueueRate", strconv.Itoa(d.PoW.QueueRate))
			add("HiddenServicePoWQueueBurst", strconv.Itoa(d.PoW.QueueBurst))
		}
	}
	return kv
}

// obConfig is the ob_config of an instance of master ("ADDRESS.onion").
func obConfig(master string) []byte {
	return []byte("MasterOnionAddress " + master + "\n")
}

// NormalizeMaster returns a balance-master value in normal form,
// "ADDRESS.onion" in lower case, or "" for none; an address that is not a
// v3 onion is an error naming the fix.
func NormalizeMaster(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	a, err := onionkey.NormalizeAddress(v)
	if err != nil {
		return "", fmt.Errorf("balance-master %q is not a v3 onion address: give the master's address as `balance create` printed it", v)
	}
	return a + ".onion", nil
}

// groupOf returns the hidden-service group of the i-th tor.
func (m *Manager) groupOf(i int) *dirGroup {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirGroups == nil {
		m.dirGroups = map[int]*dirGroup{}
	}
	g := m.dirGroups[i]
	if g == nil {
		g = &dirGroup{svcs: map[string]dirService{}}
		m.dirGroups[i] = g
	}
	return g
}

// hsRoot returns the directory that holds c's HiddenServiceDirs, opened,
// made if missing and given to tor's user, and that uid.
func (m *Manager) hsRoot(ctx context.Context, c *tor.Conn) (*safefs.Dir, int, error) {
	conf, err := c.GetConf(ctx, "DataDirectory")
	if err != nil {
		return nil, 0, err
	}
	data := ""
	if v := conf["DataDirectory"]; len(v) > 0 {
		data = v[0]
	}
	if data == "" || !filepath.IsAbs(data) {
		return nil, 0, errors.New("tor has no absolute DataDirectory to keep the onion's directory in")
	}
	uid := -1
	if info, err := c.GetInfo(ctx, "process/uid"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(info["process/uid"])); err == nil && n >= 0 {
			uid = n
		}
	}
	if uid < 0 && m.opt.TorUID != nil {
		if n, ok := m.opt.TorUID(); ok {
			uid = n
		}
	}
	if uid < 0 {
		return nil, 0, errors.New("cannot tell which user tor runs as (GETINFO process/uid)")
	}
	root, err := safefs.OpenDir(data, HSDirRoot, 0o700)
	if err != nil {
		return nil, 0, err
	}
	if os.Getuid() == 0 || uid == os.Getuid() {
		if err := root.Chown("", uid, -1); err != nil {
			root.Close()
			return nil, 0, err
		}
	}
	return root, uid, nil
}

// writeHSDir writes the service's HiddenServiceDir under root: its key in
// tor's hs_ed25519_secret_key format (0600) and its ob_config, the
// directory 0700, all owned by uid. What tor wrote there before (hostname,
// public key) goes: tor writes it again from the key.
func writeHSDir(root *safefs.Dir, uid int, name string, key *onionkey.ServiceKey, master string) (string, error) {
	if err := root.RemoveAll(name); err != nil {
		return "", err
	}
	d, err := safefs.OpenDir(root.Path(), name, 0o700)
	if err != nil {
		return "", err
	}
	defer d.Close()
	chown := os.Getuid() == 0 || uid == os.Getuid()
	files := []struct {
		name string
		data []byte
	}{{"hs_ed25519_secret_key", key.SecretKeyFile()}, {"ob_config", obConfig(master)}}
	for _, f := range files {
		if err := d.WriteNew(f.name, f.data, 0o600); err != nil {
			return "", err
		}
		if chown {
			if err := d.Chown(f.name, uid, -1); err != nil {
				return "", err
			}
		}
	}
	if chown {
		if err := d.Chown("", uid, -1); err != nil {
			return "", err
		}
	}
	return d.Path(), nil
}

// setGroup sends the group to c; a tor that refuses the proof-of-work
// options gets the group without them, and reports so. Call with g.mu
// held.
func (m *Manager) setGroup(ctx context.Context, c *tor.Conn, g *dirGroup) (powRefused error, err error) {
	err = c.SetConf(ctx, hsGroup(g.svcs, true)...)
	if err == nil || !tor.IsPoWRefusal(err) {
		return nil, err
	}
	for _, d := range g.svcs {
		if d.PoW != nil {
			return err, c.SetConf(ctx, hsGroup(g.svcs, false)...)
		}
	}
	return nil, err
}

// publishDir publishes s on c through c's configuration, as an instance
// of master, with req's ports and protections. Call with s.op held and
// s.mu not.
func (m *Manager) publishDir(ctx context.Context, s *service, c *tor.Conn, req tor.AddOnionRequest, master string) error {
	s.mu.Lock()
	name, i := s.def.Name, s.torIndex
	s.mu.Unlock()
	root, uid, err := m.hsRoot(ctx, c)
	if err != nil {
		return fmt.Errorf("the onion's directory: %w", err)
	}
	defer root.Close()
	dir, err := writeHSDir(root, uid, name, req.Key, master)
	if err != nil {
		return fmt.Errorf("the onion's directory: %w", err)
	}
	g := m.groupOf(i)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.svcs[name] = dirService{Name: name, Dir: dir, Master: master, Ports: req.Ports, MaxStreams: req.MaxStreams, PoW: req.PoW}
	refused, err := m.setGroup(ctx, c, g)
	if err != nil {
		delete(g.svcs, name)
		if rerr := root.RemoveAll(name); rerr != nil {
			m.log.Warn("removing the onion's directory", "service", name, "err", rerr)
		}
		return fmt.Errorf("setting tor's hidden-service group: %w", err)
	}
	if refused != nil {
		m.log.Info("proof-of-work: not supported by this tor", "service", name, "reason", refused.Error())
		s.mu.Lock()
		s.powOff = "tor refused it: " + refused.Error()
		s.mu.Unlock()
	}
	return nil
}

// withdrawDir takes s out of c's hidden-service group, if it is there,
// and removes its directory; it reports whether it was there (so the
// onion was not ADD_ONION's). Call with s.op held and s.mu not.
func (m *Manager) withdrawDir(ctx context.Context, s *service, c *tor.Conn) bool {
	s.mu.Lock()
	name, i := s.def.Name, s.torIndex
	s.mu.Unlock()
	g := m.groupOf(i)
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.svcs[name]; !ok {
		return false
	}
	delete(g.svcs, name)
	if _, err := m.setGroup(ctx, c, g); err != nil {
		m.log.Warn("setting tor's hidden-service group", "service", name, "err", err)
	}
	if root, _, err := m.hsRoot(ctx, c); err == nil {
		if err := root.RemoveAll(name); err != nil {
			m.log.Warn("removing the onion's directory", "service", name, "err", err)
		}
		root.Close()
	}
	return true
}

// balanceConflict refuses a value of option that would put
// balance-master and client-auth on together: Onionbalance cannot
// publish descriptors with client authorization. Call with s.op held.
func (m *Manager) balanceConflict(s *service, option, norm string) error {
	s.mu.Lock()
	auth := m.value(s, catalog.OptClientAuth) == "true"
	master := m.value(s, catalog.OptBalanceMaster)
	s.mu.Unlock()
	switch {
	case option == catalog.OptBalanceMaster && norm != "" && auth:
		return &Error{Status: http.StatusBadRequest,
			Msg:  "Onionbalance cannot publish descriptors with client authorization: turn client-auth off first",
			Hint: "tails-server set-option " + s.def.Name + " client-auth off"}
	case option == catalog.OptClientAuth && norm == "true" && master != "":
		return &Error{Status: http.StatusBadRequest,
			Msg:  "client-auth cannot be on while balance-master is set: Onionbalance cannot publish descriptors with client authorization",
			Hint: "tails-server set-option " + s.def.Name + " balance-master ''"}
	}
	return nil
}

package services

import (
	"context"
	"net"
	"os"
	"strconv"

	"tails-server/internal/catalog"
	"tails-server/internal/firewall"
)

// applyFirewall replaces the daemon's nftables table with the rules of
// every running backend: its ports dropped from the LAN unless allow-lan,
// and reserved to Tor's user (and the daemon's) unless allow-localhost.
// Without a firewall (--firewall=false) allow-localhost=false cannot be
// kept, and the error says so.
func (m *Manager) applyFirewall(ctx context.Context) error {
	var rules []firewall.Rule
	needed := false
	for _, s := range m.all() {
		s.mu.Lock()
		b := s.backend
		lan := m.value(s, catalog.OptAllowLAN) == "true"
		local := m.value(s, catalog.OptAllowLocalhost) == "true"
		s.mu.Unlock()
		if b == nil {
			continue
		}
		if !local {
			needed = true
		}
		for _, p := range append([]string{catalog.LocalPortName}, extraPortNames(s.def)...) {
			addr, ok := b.Target(p)
			if !ok {
				continue
			}
			_, ps, _ := net.SplitHostPort(addr)
			port, _ := strconv.Atoi(ps)
			rules = append(rules, firewall.Rule{Service: s.def.Name, Port: port, AllowLAN: lan,
				AllowLocalhost: local, TrustedUIDs: m.trustedUIDs()})
		}
	}
	if m.opt.Firewall == nil {
		if needed {
			return &Error{Status: 409, Msg: "allow-localhost=false needs the daemon's firewall, which is off",
				Hint: "start the daemon with --firewall (and Debian's nftables installed)"}
		}
		return nil
	}
	if err := m.opt.Firewall.Apply(ctx, rules); err != nil {
		if needed {
			return err
		}
		m.log.Warn("firewall rules not applied (backends still listen on loopback only)", "err", err)
	}
	return nil
}

func extraPortNames(def *catalog.Service) []string {
	var out []string
	for _, p := range def.ExtraPorts {
		out = append(out, p.Name)
	}
	return out
}

// trustedUIDs are the users that may reach a backend with allow-localhost
// off: Tor's and the daemon's own (for health checks).
func (m *Manager) trustedUIDs() []int {
	uids := []int{os.Getuid()}
	if m.opt.TorUID != nil {
		if u, ok := m.opt.TorUID(); ok && u != os.Getuid() {
			uids = append(uids, u)
		}
	}
	return uids
}

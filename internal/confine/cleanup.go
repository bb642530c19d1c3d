package confine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// NetnsDir is where `ip netns` keeps the namespaces' names.
var NetnsDir = "/run/netns"

// Cleanup removes what a crashed daemon left: namespaces ts-* (and what
// runs in them), links ts-h*/ts-n*, host tables ts_confine_*, and
// directories /etc/netns/ts-*. It returns what it removed, for the log.
// Call it at start, before any Acquire.
func (m *Manager) Cleanup(ctx context.Context) []string {
	var removed []string
	if ents, err := os.ReadDir(NetnsDir); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), Prefix) {
				m.removeNamespace(ctx, e.Name())
				removed = append(removed, "namespace "+e.Name())
			}
		}
	}
	if ents, err := os.ReadDir(EtcNetns); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), Prefix) {
				os.RemoveAll(filepath.Join(EtcNetns, e.Name()))
			}
		}
	}
	var links []struct {
		Name string `json:"ifname"`
	}
	if m.jsonOut(ctx, &links, m.ip(), "-j", "link", "show") == nil {
		for _, l := range links {
			if isOurLink(l.Name) {
				m.run(ctx, "", m.ip(), "link", "del", l.Name)
				removed = append(removed, "link "+l.Name)
			}
		}
	}
	var tables struct {
		Nftables []struct {
			Table *struct {
				Family string `json:"family"`
				Name   string `json:"name"`
			} `json:"table"`
		} `json:"nftables"`
	}
	if m.jsonOut(ctx, &tables, m.nft(), "-j", "list", "tables") == nil {
		for _, t := range tables.Nftables {
			if t.Table != nil && t.Table.Family == "inet" && strings.HasPrefix(t.Table.Name, TablePrefix) {
				m.run(ctx, fmt.Sprintf("delete table inet %s\n", t.Table.Name), m.nft(), "-f", "-")
				removed = append(removed, "table inet "+t.Table.Name)
			}
		}
	}
	return removed
}

func isOurLink(name string) bool {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok || len(rest) < 2 || (rest[0] != 'h' && rest[0] != 'n') {
		return false
	}
	for _, c := range rest[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (m *Manager) jsonOut(ctx context.Context, v any, prog string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return err
	}
	return json.Unmarshal(out.Bytes(), v)
}

// CheckRange refuses a range that overlaps an address or a route of the
// host (the default route and our own loopback addresses and links
// aside): one line naming both and the fix.
func (m *Manager) CheckRange(ctx context.Context, rng netip.Prefix) error {
	var addrs []struct {
		Name string `json:"ifname"`
		Info []struct {
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
			Label     string `json:"label"`
		} `json:"addr_info"`
	}
	if err := m.jsonOut(ctx, &addrs, m.ip(), "-j", "-4", "addr", "show"); err != nil {
		return fmt.Errorf("listing the host's addresses: %w", err)
	}
	for _, a := range addrs {
		if isOurLink(a.Name) {
			continue
		}
		for _, i := range a.Info {
			if strings.HasPrefix(i.Label, "lo:ts") {
				continue
			}
			p, err := netip.ParsePrefix(fmt.Sprintf("%s/%d", i.Local, i.PrefixLen))
			if err == nil && p.Overlaps(rng) {
				return collision(rng, fmt.Sprintf("address %s on %s", p, a.Name))
			}
		}
	}
	var routes []struct {
		Dst   string `json:"dst"`
		Dev   string `json:"dev"`
		Table string `json:"table"`
	}
	if err := m.jsonOut(ctx, &routes, m.ip(), "-j", "-4", "route", "show", "table", "all"); err != nil {
		return fmt.Errorf("listing the host's routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == "default" || r.Table == "local" || isOurLink(r.Dev) {
			continue
		}
		dst := r.Dst
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		p, err := netip.ParsePrefix(dst)
		if err == nil && p.Overlaps(rng) {
			return collision(rng, fmt.Sprintf("route to %s via %s", p, r.Dev))
		}
	}
	return nil
}

func collision(rng netip.Prefix, what string) error {
	return fmt.Errorf("the confine range %s collides with the host's %s: choose a free private range with confine-range: in the isolation policy", rng, what)
}

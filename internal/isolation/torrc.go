package isolation

import (
	"fmt"
	"strings"
)

var directive = map[string]string{TypeSOCKS: "SocksPort", TypeTrans: "TransPort", TypeDNS: "DNSPort"}

// TorrcLines returns the policy's listeners as torrc lines (without
// comments), every port shifted by offset: what the daemon adds to its own
// tor's configuration.
func (p *Policy) TorrcLines(offset int) ([]string, error) {
	if err := p.CheckOffset(offset); err != nil {
		return nil, err
	}
	var out []string
	for _, l := range p.Listeners() {
		addr, _ := l.Addr(offset)
		line := directive[l.Type] + " " + addr
		if len(l.Flags) > 0 {
			line += " " + strings.Join(l.Flags, " ")
		}
		if strings.ContainsAny(line, "\r\n\x00") {
			return nil, fmt.Errorf("port %s: refusing a torrc line with a line break", l.Name)
		}
		out = append(out, line)
	}
	if len(p.ConfinedApps()) > 0 {
		// Tails' values: a name resolved through a confined app's
		// DNSPort (an onion) gets a virtual address that leaves the
		// namespace by its veth, to the TransPort, instead of one on
		// 127.192.0.0/10, which would stay on the namespace's loopback.
		out = append(out, "AutomapHostsOnResolve 1", "VirtualAddrNetworkIPv4 "+VirtualAddrNetwork)
	}
	return out, nil
}

// VirtualAddrNetwork is where tor picks the addresses it answers for
// automapped names when applications are confined (Tails' value).
const VirtualAddrNetwork = "10.192.0.0/10"

// Torrc renders the policy as a torrc snippet a system tor can include
// (%include FILE): one commented line per listener, with the apps using
// it.
func (p *Policy) Torrc(offset int) (string, error) {
	lines, err := p.TorrcLines(offset)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Stream isolation policy rendered by tails-server from %s", comment(p.Source))
	if offset != 0 {
		fmt.Fprintf(&b, ", ports shifted by %d", offset)
	}
	b.WriteString(".\n## Include it from torrc with: %include /path/to/this/file\n")
	for i, l := range p.Listeners() {
		var apps []string
		for _, a := range p.Apps {
			if (l.App != "" && a.Name == l.App) || (l.App == "" && a.Port == l.Name && a.Override == nil) {
				apps = append(apps, a.Name)
			}
		}
		fmt.Fprintf(&b, "\n## %s (%s)", comment(l.Name), strings.Join(Effective(l.Flags).Names(), " "))
		if l.Description != "" {
			fmt.Fprintf(&b, ": %s", comment(l.Description))
		}
		b.WriteString("\n")
		if len(apps) > 0 {
			fmt.Fprintf(&b, "## apps: %s\n", strings.Join(apps, ", "))
		}
		b.WriteString(lines[i] + "\n")
	}
	if extra := lines[len(p.Listeners()):]; len(extra) > 0 {
		b.WriteString("\n## confined applications: names resolved through their DNSPort (onions) map\n## to addresses that leave their namespace by its veth, as in Tails\n")
		b.WriteString(strings.Join(extra, "\n") + "\n")
	}
	return b.String(), nil
}

// comment makes s safe inside a one-line torrc comment.
func comment(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

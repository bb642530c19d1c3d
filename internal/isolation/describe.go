package isolation

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"tails-server/internal/apitype"
	"tails-server/internal/tor"
)

// Describe returns the policy as the API shows it, ports shifted by
// offset (which CheckOffset has accepted).
func (p *Policy) Describe(offset int) apitype.IsolationPolicy {
	out := apitype.IsolationPolicy{Source: p.Source, Offset: offset}
	for _, l := range p.Listeners() {
		addr, _ := l.Addr(offset)
		ip := apitype.IsolationPort{
			Name: l.Name, Type: l.Type, Addr: addr, Flags: nonNil(l.Flags),
			Isolation: nonNil(Effective(l.Flags).Names()), Description: l.Description,
		}
		for _, a := range p.Apps {
			if (l.App != "" && a.Name == l.App) || (l.App == "" && a.Port == l.Name && a.Override == nil) {
				ip.Apps = append(ip.Apps, a.Name)
			}
		}
		out.Ports = append(out.Ports, ip)
	}
	for _, a := range p.Apps {
		l, err := p.AppListener(a.Name)
		if err != nil {
			continue
		}
		addr, _ := l.Addr(offset)
		ia := apitype.IsolationApp{
			Name: a.Name, Port: l.Name, Addr: addr, Flags: nonNil(l.Flags),
			Isolation: nonNil(Effective(l.Flags).Names()), Description: a.Description,
		}
		if a.Override != nil {
			ia.Override = orDash(a.Override.Reason)
		}
		out.Apps = append(out.Apps, ia)
	}
	for _, c := range p.ConfinedApps() {
		addr, _ := c.Socks.Addr(offset)
		out.Confined = append(out.Confined, apitype.IsolationConfined{App: c.App, Namespace: c.Namespace(), Port: c.Socks.Name, Addr: addr, NSAddr: c.NS.String()})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// CheckTor asks the running tor which of the policy's listeners it
// exposes (GETINFO net/listeners/*) and with which flags (GETCONF
// SocksPort, TransPort, DNSPort), and fills in Exposed, Problem and
// Missing of d (a Describe result for the same policy and offset).
func CheckTor(ctx context.Context, c *tor.Conn, d *apitype.IsolationPolicy) error {
	info, err := c.GetInfo(ctx, "net/listeners/socks", "net/listeners/trans", "net/listeners/dns")
	if err != nil {
		return fmt.Errorf("asking tor for its listeners: %w", err)
	}
	conf, err := c.GetConf(ctx, "SocksPort", "TransPort", "DNSPort")
	if err != nil {
		return fmt.Errorf("asking tor for its ports: %w", err)
	}
	listening := map[string][]string{
		TypeSOCKS: ListenerAddrs(info["net/listeners/socks"]),
		TypeTrans: ListenerAddrs(info["net/listeners/trans"]),
		TypeDNS:   ListenerAddrs(info["net/listeners/dns"]),
	}
	confFlags := map[string][]string{} // "type addr" -> flags
	for typ, key := range map[string]string{TypeSOCKS: "SocksPort", TypeTrans: "TransPort", TypeDNS: "DNSPort"} {
		for _, v := range conf[key] {
			f := strings.Fields(v)
			if len(f) == 0 {
				continue
			}
			confFlags[typ+" "+f[0]] = f[1:]
		}
	}
	d.Missing = nil
	for i := range d.Ports {
		pt := &d.Ports[i]
		exposed := slices.Contains(listening[pt.Type], pt.Addr)
		pt.Exposed = &exposed
		pt.Problem = ""
		if !exposed {
			pt.Problem = fmt.Sprintf("tor does not listen on %s", pt.Addr)
			d.Missing = append(d.Missing, fmt.Sprintf("port %s (%s %s): %s; add the line from `tails-server isolation torrc` to tor's configuration", pt.Name, directive[pt.Type], pt.Addr, pt.Problem))
			continue
		}
		if flags, ok := confFlags[pt.Type+" "+pt.Addr]; ok {
			have, want := Effective(flags).Names(), pt.Isolation
			if !slices.Equal(have, want) {
				pt.Problem = fmt.Sprintf("tor isolates streams on %s by %s; the policy asks for %s", pt.Addr, orNone(have), orNone(want))
				d.Missing = append(d.Missing, fmt.Sprintf("port %s: %s", pt.Name, pt.Problem))
			}
		}
	}
	d.Checked = true
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, " ")
}

// ListenerAddrs splits a GETINFO net/listeners/* value (quoted addresses
// separated by spaces).
func ListenerAddrs(v string) []string {
	var out []string
	for _, f := range strings.Fields(v) {
		if u, err := strconv.Unquote(f); err == nil {
			f = u
		}
		out = append(out, strings.Trim(f, `"`))
	}
	return out
}

package isolation

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// DefaultConfineRange is where confined applications' veth pairs take
// their addresses when the policy names no confine-range: the range
// Tails uses for its browser's namespace (10.200.1.1 on the host side).
const DefaultConfineRange = "10.200.0.0/16"

// Confined listeners' port numbers on the host side of an application's
// veth, before the offset: the numbers Tails gives its TransPort and
// DNSPort. They cannot clash with the 127.0.0.1 ones, being on another
// address.
const (
	ConfineTransPort = 9040
	ConfineDNSPort   = 5353
)

// Confined is one confined application: its namespace, its veth pair's
// addresses and its listeners on the host side of the veth.
type Confined struct {
	App string
	// Index is the application's rank among the confined ones (1-based):
	// its /24 in the range, and the number in its interface names.
	Index int
	// Host is the host side of the veth (where tor listens), NS the
	// namespace's side, both in the application's /24.
	Host, NS netip.Addr
	// Socks, Trans and DNS are its listeners (Listen is Host).
	Socks, Trans, DNS Port
}

// Namespace is the name of the application's network namespace.
func (c Confined) Namespace() string { return "ts-" + c.App }

// ConfineTailsBrowser confines the applications of the Tails layout's
// browser port (what `--confine` asks for without a policy file saying
// confine: true).
func (p *Policy) ConfineTailsBrowser() error {
	pt, ok := p.Port("browser")
	if !ok {
		return fmt.Errorf("%s has no port named browser to confine: mark an app or port with confine: true instead", p.Source)
	}
	pt.Confine = true
	return nil
}

// confineRange returns the policy's range, parsed (checked by check).
func (p *Policy) confineRange() netip.Prefix {
	r := p.ConfineRange
	if r == "" {
		r = DefaultConfineRange
	}
	pf, err := netip.ParsePrefix(r)
	if err != nil {
		return netip.MustParsePrefix(DefaultConfineRange)
	}
	return pf.Masked()
}

// ConfinePrefix returns the range the confined applications' addresses
// come from.
func (p *Policy) ConfinePrefix() netip.Prefix { return p.confineRange() }

// IsConfined says whether the application runs confined: it, or its
// port, says confine: true.
func (p *Policy) IsConfined(app string) bool {
	a, ok := p.App(app)
	if !ok {
		return false
	}
	if a.Confine {
		return true
	}
	pt, ok := p.Port(a.Port)
	return ok && pt.Confine
}

// ConfinedApps lists the confined applications, in policy order.
func (p *Policy) ConfinedApps() []Confined {
	var out []Confined
	pf := p.confineRange()
	for _, a := range p.Apps {
		if !p.IsConfined(a.Name) {
			continue
		}
		base, err := p.AppListener(a.Name)
		if err != nil {
			continue
		}
		n := len(out) + 1
		b := pf.Addr().As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		v += uint32(n) << 8
		host := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 1})
		ns := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 2})
		iso := isolationFlags(base.Flags)
		c := Confined{App: a.Name, Index: n, Host: host, NS: ns}
		c.Socks = Port{Name: a.Name + "-confined", Type: TypeSOCKS, Listen: host.String(), Port: base.Port,
			Flags: slices.Clone(base.Flags), App: a.Name, Confine: true, line: base.line, flagLines: base.flagLines,
			Description: fmt.Sprintf("%s's SOCKS port on the host side of its veth (namespace ts-%s), flags of %s", a.Name, a.Name, base.Name)}
		c.Trans = Port{Name: a.Name + "-confined-trans", Type: TypeTrans, Listen: host.String(), Port: ConfineTransPort,
			Flags: iso, App: a.Name, Confine: true, line: base.line,
			Description: fmt.Sprintf("%s's TransPort in its namespace (isolation run --confine --transparent), isolation of %s", a.Name, base.Name)}
		c.DNS = Port{Name: a.Name + "-confined-dns", Type: TypeDNS, Listen: host.String(), Port: ConfineDNSPort,
			Flags: slices.Clone(iso), App: a.Name, Confine: true, line: base.line,
			Description: fmt.Sprintf("%s's DNSPort in its namespace (isolation run --confine --transparent), isolation of %s", a.Name, base.Name)}
		out = append(out, c)
	}
	return out
}

// ConfinedApp returns the confined application named app.
func (p *Policy) ConfinedApp(app string) (Confined, bool) {
	for _, c := range p.ConfinedApps() {
		if c.App == app {
			return c, true
		}
	}
	return Confined{}, false
}

// isolationFlags keeps the flags a TransPort or DNSPort takes: the
// isolation ones.
func isolationFlags(flags []string) []string {
	out := []string{}
	for _, f := range flags {
		name, _, _ := strings.Cut(f, "=")
		if info, ok := lookupFlag(name); ok && info.isolation && !strings.HasSuffix(name, "SOCKSAuth") {
			out = append(out, f)
		}
	}
	return out
}

func (p *Policy) confinedListeners() []Port {
	var out []Port
	for _, c := range p.ConfinedApps() {
		out = append(out, c.Socks, c.Trans, c.DNS)
	}
	return out
}

// maxConfined caps the confined applications (interface names and the
// range's /24s).
const maxConfined = 250

// checkConfine checks the range and the confined listeners' names and
// numbers.
func (d *decoder) checkConfine(p *Policy, names map[string]int, claim func(listen string, port, line int, what string)) {
	line := orLine(p.rangeLine, 1)
	r := p.ConfineRange
	if r == "" {
		r = DefaultConfineRange
	}
	pf, err := netip.ParsePrefix(r)
	switch {
	case err != nil || !pf.Addr().Is4():
		d.errorf(line, "confine-range %q is not an IPv4 range such as %s", r, DefaultConfineRange)
		return
	case pf.Bits() < 8 || pf.Bits() > 23:
		d.errorf(line, "confine-range %s: give a range from /8 to /23 (each confined app takes a /24 of it)", r)
		return
	case !pf.Addr().IsPrivate():
		d.errorf(line, "confine-range %s is not a private range (10/8, 172.16/12, 192.168/16): choose one, such as %s", r, DefaultConfineRange)
		return
	}
	cs := p.ConfinedApps()
	if max := 1<<(24-pf.Bits()) - 1; len(cs) > max || len(cs) > maxConfined {
		d.errorf(line, "confine-range %s holds %d confined apps, the policy has %d: widen the range", r, min(max, maxConfined), len(cs))
		return
	}
	for _, c := range cs {
		for _, l := range []Port{c.Socks, c.Trans, c.DNS} {
			if at, clash := names[l.Name]; clash {
				d.errorf(at, "port name %q is the name of app %s's confined listener: rename the port", l.Name, c.App)
			}
			claim(l.Listen, l.Port, l.line, "app "+c.App+": confined listener "+l.Name)
		}
	}
}

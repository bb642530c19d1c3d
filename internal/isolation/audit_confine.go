package isolation

import (
	"net/netip"

	"tails-server/internal/apitype"
)

// confinedOf returns the confined application whose listener is named
// name.
func (a *Auditor) confinedOf(name string) (Confined, bool) {
	if a.Policy == nil {
		return Confined{}, false
	}
	for _, c := range a.Policy.ConfinedApps() {
		if name == c.Socks.Name || name == c.Trans.Name || name == c.DNS.Name {
			return c, true
		}
	}
	return Confined{}, false
}

// confinedListenerOf attributes a TransPort or DNSPort stream to the
// confined application whose namespace it came from (several such
// listeners exist, one per namespace). Called with a.mu held.
func (a *Auditor) confinedListenerOf(rec *streamRec, typ string) *listener {
	if a.Policy == nil {
		return nil
	}
	src, err := netip.ParseAddr(hostOf(rec.s.Source))
	if err != nil {
		return nil
	}
	for _, c := range a.Policy.ConfinedApps() {
		if c.NS != src {
			continue
		}
		name := c.Trans.Name
		if typ == TypeDNS {
			name = c.DNS.Name
		}
		for _, l := range a.byAddr {
			if l.name == name {
				return l
			}
		}
	}
	return nil
}

// checkForeign flags a stream on a confined application's listener that
// did not come from its namespace (once per stream). Called with a.mu
// held.
func (a *Auditor) checkForeign(rec *streamRec) *apitype.AuditForeign {
	c, ok := a.confinedOf(rec.s.Port)
	if !ok || hostOf(rec.s.Source) == c.NS.String() || a.foreignOf[rec.key] {
		return nil
	}
	if a.foreignOf == nil {
		a.foreignOf = map[string]bool{}
	}
	a.foreignOf[rec.key] = true
	f := apitype.AuditForeign{Stream: rec.s.ID, Port: rec.s.Port, App: c.App, Source: rec.s.Source, Expected: c.NS.String()}
	a.foreign = append(a.foreign, f)
	return &f
}

// confinedReport lists the policy's confined applications.
func (a *Auditor) confinedReport() []apitype.IsolationConfined {
	if a.Policy == nil {
		return nil
	}
	return a.Policy.Describe(a.Offset).Confined
}

package metrics

import "strings"

// TorPrefix is the prefix of tor's onion-service metrics, the only ones
// Relabel keeps.
const TorPrefix = "tor_hs_"

// Relabel keeps tor's onion-service families (TorPrefix) and, in each
// sample, puts a service="NAME" label in place of tor's onion="ADDRESS"
// one, onions mapping an address (without ".onion") to its service. A
// sample of an onion the map lacks, or with no onion label, is dropped:
// the address must not leak through it. withAddresses keeps the onion
// label beside the service one.
func Relabel(fams []Family, onions map[string]string, withAddresses bool) []Family {
	var out []Family
	for _, f := range fams {
		if !strings.HasPrefix(f.Name, TorPrefix) {
			continue
		}
		g := Family{Name: f.Name, Help: f.Help, Type: f.Type}
		for _, s := range f.Samples {
			name, ok := "", false
			labels := make([]Label, 0, len(s.Labels)+1)
			for _, l := range s.Labels {
				if l.Name == "onion" {
					name, ok = onions[strings.TrimSuffix(l.Value, ".onion")]
					continue
				}
				if l.Name == "service" {
					continue // ours, never tor's
				}
				labels = append(labels, l)
			}
			if !ok {
				continue
			}
			labels = append([]Label{{"service", name}}, labels...)
			if withAddresses {
				for _, l := range s.Labels {
					if l.Name == "onion" {
						labels = append(labels, Label{"onion", strings.TrimSuffix(l.Value, ".onion")})
					}
				}
			}
			g.Samples = append(g.Samples, Sample{Suffix: s.Suffix, Labels: labels, Value: s.Value})
		}
		if len(g.Samples) > 0 {
			out = append(out, g)
		}
	}
	return out
}

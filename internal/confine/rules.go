package confine

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Spec is one confined application's namespace: names, addresses and the
// ports of its listeners (offset applied).
type Spec struct {
	// App names the namespace (ts-APP): a-z, 0-9 and -, 1 to 32.
	App string
	// Index numbers its interfaces and host table (ts-hN, ts-nN,
	// ts_confine_N): 1 to 250.
	Index int
	// Host is the host side of the veth (where tor listens), NS the
	// namespace's side.
	Host, NS netip.Addr
	// SocksPort, TransPort, DNSPort are tor's listeners on Host.
	SocksPort, TransPort, DNSPort int
	// Transparent routes every TCP connection to TransPort and DNS to
	// DNSPort; without it only SocksPort is reachable.
	Transparent bool
}

var appRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// Check refuses a spec whose names or numbers could not be rendered
// safely.
func (s Spec) Check() error {
	switch {
	case !appRE.MatchString(s.App):
		return fmt.Errorf("confine: invalid app name %q", s.App)
	case s.Index < 1 || s.Index > 250:
		return fmt.Errorf("confine: app %s: index %d outside 1-250", s.App, s.Index)
	case !s.Host.Is4() || !s.NS.Is4() || s.Host == s.NS:
		return fmt.Errorf("confine: app %s: host and namespace need two IPv4 addresses", s.App)
	}
	for _, p := range []int{s.SocksPort, s.TransPort, s.DNSPort} {
		if p < 1 || p > 65535 {
			return fmt.Errorf("confine: app %s: port %d outside 1-65535", s.App, p)
		}
	}
	return nil
}

// Namespace is the network namespace's name.
func (s Spec) Namespace() string { return Prefix + s.App }

// HostLink and NSLink are the veth pair's ends.
func (s Spec) HostLink() string { return fmt.Sprintf("%sh%d", Prefix, s.Index) }

// NSLink is the veth end inside the namespace.
func (s Spec) NSLink() string { return fmt.Sprintf("%sn%d", Prefix, s.Index) }

// HostTable is the host's nftables table for this namespace (inet).
func (s Spec) HostTable() string { return fmt.Sprintf("%s%d", TablePrefix, s.Index) }

// NSTable is the nftables table inside the namespace (inet).
const NSTable = "ts_confine"

// HostRuleset is the host's table for the namespace, replaced as a
// whole: from the veth, only the application's listeners on Host are
// reachable (in transparent mode every TCP connection is redirected to
// TransPort and every DNS query to DNSPort, on the host side, so that
// tor's SO_ORIGINAL_DST sees the address the program asked for); nothing
// is forwarded to or from the veth; the host opens nothing towards it
// (only replies leave).
func HostRuleset(s Spec) (string, error) {
	if err := s.Check(); err != nil {
		return "", err
	}
	t, link, host, ns := s.HostTable(), s.HostLink(), s.Host, s.NS
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s\ndelete table inet %s\ntable inet %s {\n", t, t, t)
	if s.Transparent {
		fmt.Fprintf(&b, "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n")
		fmt.Fprintf(&b, "\t\tiifname %q ip saddr %s ip daddr %s tcp dport %d accept\n", link, ns, host, s.SocksPort)
		fmt.Fprintf(&b, "\t\tiifname %q ip saddr %s meta l4proto tcp dnat ip to %s:%d\n", link, ns, host, s.TransPort)
		fmt.Fprintf(&b, "\t\tiifname %q ip saddr %s udp dport 53 dnat ip to %s:%d\n", link, ns, host, s.DNSPort)
		b.WriteString("\t}\n")
	}
	fmt.Fprintf(&b, "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n")
	fmt.Fprintf(&b, "\t\tiifname %q ip saddr %s ip daddr %s tcp dport %d accept\n", link, ns, host, s.SocksPort)
	if s.Transparent {
		fmt.Fprintf(&b, "\t\tiifname %q ip saddr %s ip daddr %s tcp dport %d accept\n", link, ns, host, s.TransPort)
		fmt.Fprintf(&b, "\t\tiifname %q ip saddr %s ip daddr %s udp dport %d accept\n", link, ns, host, s.DNSPort)
	}
	fmt.Fprintf(&b, "\t\tiifname %q drop\n\t}\n", link)
	fmt.Fprintf(&b, "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n")
	fmt.Fprintf(&b, "\t\tiifname %q drop\n\t\toifname %q drop\n\t}\n", link, link)
	fmt.Fprintf(&b, "\tchain output {\n\t\ttype filter hook output priority filter; policy accept;\n")
	fmt.Fprintf(&b, "\t\toifname %q ip saddr %s ip daddr %s ct state established accept\n", link, host, ns)
	fmt.Fprintf(&b, "\t\toifname %q drop\n\t}\n}\n", link)
	return b.String(), nil
}

// NSRuleset is the table inside the namespace: the program may talk to
// its own loopback and to its listeners on Host (in transparent mode, to
// any IPv4 TCP address and to UDP port 53, which the host redirects to
// tor); everything else leaving is dropped (other UDP, ICMP, IPv6), and
// nothing but replies comes in.
func NSRuleset(s Spec) (string, error) {
	if err := s.Check(); err != nil {
		return "", err
	}
	t, link := NSTable, s.NSLink()
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s\ndelete table inet %s\ntable inet %s {\n", t, t, t)
	fmt.Fprintf(&b, "\tchain output {\n\t\ttype filter hook output priority filter; policy drop;\n")
	b.WriteString("\t\toifname \"lo\" accept\n")
	fmt.Fprintf(&b, "\t\toifname %q ip saddr %s ip daddr %s tcp dport %d accept\n", link, s.NS, s.Host, s.SocksPort)
	if s.Transparent {
		fmt.Fprintf(&b, "\t\toifname %q ip saddr %s meta l4proto tcp accept\n", link, s.NS)
		fmt.Fprintf(&b, "\t\toifname %q ip saddr %s udp dport 53 accept\n", link, s.NS)
	}
	b.WriteString("\t}\n")
	fmt.Fprintf(&b, "\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n")
	b.WriteString("\t\tiifname \"lo\" accept\n")
	// Replies only: the output chain chose what may be opened. In
	// transparent mode a reply comes from the address the program asked
	// for (the host undoes its redirection).
	fmt.Fprintf(&b, "\t\tiifname %q ip daddr %s ct state established accept\n", link, s.NS)
	b.WriteString("\t}\n")
	fmt.Fprintf(&b, "\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}\n}\n")
	return b.String(), nil
}

// Package firewall keeps the nftables rules that the services' allow-lan
// and allow-localhost options ask for, in one table the daemon owns
// (`inet tails_server`) and replaces as a whole, atomically, with one
// `nft -f -` transaction. It uses Debian's `nft` command rather than a
// netlink library: the ruleset is a short, readable text that an
// administrator can inspect with `nft list table inet tails_server`, and
// nft applies it in a single transaction.
//
// Per backend port:
//   - allow-lan off: packets for the port arriving on any interface but
//     loopback are dropped (the backend also listens on 127.0.0.1 only);
//     on: they are accepted (the backend listens on all addresses).
//   - allow-localhost off: only Tor's user and the daemon's may connect to
//     the port over loopback; other local users get a TCP reset.
package firewall

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
)

// Table is the default name of the daemon's table (family inet).
const Table = "tails_server"

// Rule is what one service's backend port needs.
type Rule struct {
	// Service names the rule in comments; letters, digits and '-' only.
	Service string
	// Port is the backend's TCP port.
	Port int
	// AllowLAN accepts connections from other machines.
	AllowLAN bool
	// AllowLocalhost lets every local user connect; when false only the
	// UIDs in TrustedUIDs may.
	AllowLocalhost bool
	// TrustedUIDs are Tor's user and the daemon's (for health checks).
	TrustedUIDs []int
}

// Firewall applies rules with nft.
type Firewall struct {
	// Nft is the nft program (default "nft").
	Nft string
	// NetNS, when set, applies the rules inside that network namespace
	// (`ip netns exec`); for tests.
	NetNS string
	// Table is the table's name (default Table); several daemons on one
	// machine (tests) each need their own.
	Table string
}

func (f *Firewall) table() string {
	if f.Table == "" {
		return Table
	}
	return f.Table
}

// ValidTable reports whether name can be a table name.
func ValidTable(name string) bool {
	if name == "" || len(name) > 32 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Ruleset renders the whole default table for rules. An empty list gives
// an empty table.
func Ruleset(rules []Rule) (string, error) { return ruleset(Table, rules) }

func ruleset(table string, rules []Rule) (string, error) {
	if !ValidTable(table) {
		return "", fmt.Errorf("firewall: invalid table name %q", table)
	}
	var in, out []string
	sorted := append([]Rule(nil), rules...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Port < sorted[j].Port })
	for _, r := range sorted {
		if r.Port < 1 || r.Port > 65535 {
			return "", fmt.Errorf("firewall: invalid port %d for %s", r.Port, r.Service)
		}
		if !validName(r.Service) {
			return "", fmt.Errorf("firewall: invalid service name %q", r.Service)
		}
		comment := fmt.Sprintf("comment %q", r.Service)
		if r.AllowLAN {
			in = append(in, fmt.Sprintf("iifname != \"lo\" tcp dport %d accept %s", r.Port, comment))
		} else {
			in = append(in, fmt.Sprintf("iifname != \"lo\" tcp dport %d drop %s", r.Port, comment))
		}
		if !r.AllowLocalhost {
			if len(r.TrustedUIDs) == 0 {
				return "", fmt.Errorf("firewall: %s: allow-localhost off needs the trusted UIDs (Tor's user)", r.Service)
			}
			uids := make([]string, len(r.TrustedUIDs))
			for i, u := range r.TrustedUIDs {
				if u < 0 {
					return "", fmt.Errorf("firewall: invalid uid %d", u)
				}
				uids[i] = fmt.Sprint(u)
			}
			out = append(out, fmt.Sprintf("oifname \"lo\" tcp dport %d meta skuid != { %s } reject with tcp reset %s",
				r.Port, strings.Join(uids, ", "), comment))
		}
	}
	var b strings.Builder
	// Declaring then deleting the table makes the transaction work
	// whether or not it exists; the new table replaces it atomically.
	fmt.Fprintf(&b, "table inet %s\ndelete table inet %s\ntable inet %s {\n", table, table, table)
	writeChain(&b, "input", "input", in)
	writeChain(&b, "output", "output", out)
	b.WriteString("}\n")
	return b.String(), nil
}

func writeChain(b *strings.Builder, name, hook string, rules []string) {
	fmt.Fprintf(b, "\tchain %s {\n\t\ttype filter hook %s priority filter; policy accept;\n", name, hook)
	for _, r := range rules {
		fmt.Fprintf(b, "\t\t%s\n", r)
	}
	b.WriteString("\t}\n")
}

func validName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Apply replaces the daemon's table with the rules, in one transaction.
func (f *Firewall) Apply(ctx context.Context, rules []Rule) error {
	rs, err := ruleset(f.table(), rules)
	if err != nil {
		return err
	}
	return f.run(ctx, rs, "-f", "-")
}

// Remove deletes the daemon's table, if it exists.
func (f *Firewall) Remove(ctx context.Context) error {
	if !ValidTable(f.table()) {
		return fmt.Errorf("firewall: invalid table name %q", f.table())
	}
	return f.run(ctx, fmt.Sprintf("table inet %s\ndelete table inet %s\n", f.table(), f.table()), "-f", "-")
}

// List returns the table as nft prints it.
func (f *Firewall) List(ctx context.Context) (string, error) {
	var out bytes.Buffer
	cmd := f.command(ctx, "list", "table", "inet", f.table())
	cmd.Stdout = &out
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("nft list: %s", firstLine(errb.String(), err))
	}
	return out.String(), nil
}

func (f *Firewall) command(ctx context.Context, args ...string) *exec.Cmd {
	nft := f.Nft
	if nft == "" {
		nft = "nft"
	}
	if f.NetNS != "" {
		return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", f.NetNS, nft}, args...)...)
	}
	return exec.CommandContext(ctx, nft, args...)
}

func (f *Firewall) run(ctx context.Context, stdin string, args ...string) error {
	cmd := f.command(ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		if _, lerr := exec.LookPath(cmd.Path); lerr != nil {
			return fmt.Errorf("nft not found: install Debian's nftables (apt-get install nftables)")
		}
		return fmt.Errorf("nft: %s", firstLine(errb.String(), err))
	}
	return nil
}

func firstLine(s string, err error) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return err.Error()
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

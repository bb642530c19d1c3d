// Package isolation is Tor stream isolation for the desktop's applications:
// a declarative policy (which SOCKS ports tor opens, with which isolation
// flags, and which application uses which port), its validation against
// the flags the installed tor knows, its rendering as torrc lines, the
// environment that makes a command use its application's port (proxy
// variables and a torsocks configuration), and a live audit of which
// streams shared which circuit, from tor's STREAM and CIRC events.
//
// The policy is YAML (go.yaml.in/yaml/v3, already used by the catalog),
// decoded from the node tree so that every problem is reported as
// "file:line: message".
package isolation

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultName is the Source of the built-in policy.
const DefaultName = "built-in default policy"

// Port types.
const (
	TypeSOCKS = "socks"
	TypeTrans = "trans"
	TypeDNS   = "dns"
)

// MaxPolicySize caps a policy file.
const MaxPolicySize = 1 << 20

// Policy is a stream isolation policy: tor's listeners and the
// applications using them.
type Policy struct {
	// Source names where the policy came from (a file name, or
	// DefaultName), for errors.
	Source string `json:"source" yaml:"source"`
	Ports  []Port `json:"ports" yaml:"ports"`
	Apps   []App  `json:"apps" yaml:"apps"`
	// ConfineRange is the IPv4 range the confined applications' veth
	// pairs take their addresses from, one /24 each (default
	// DefaultConfineRange); see confine.go.
	ConfineRange string `json:"confine_range,omitempty" yaml:"confine-range,omitempty"`

	rangeLine int
}

// Port is one listener of tor: a SocksPort, TransPort or DNSPort.
type Port struct {
	Name string `json:"name" yaml:"name"`
	// Type is TypeSOCKS (default), TypeTrans or TypeDNS.
	Type string `json:"type" yaml:"type"`
	// Listen is the IP address it listens on (default 127.0.0.1).
	Listen string `json:"listen" yaml:"listen"`
	Port   int    `json:"port" yaml:"port"`
	// Flags are tor's SocksPort flags, as the manual spells them, in
	// order ("SessionGroup=N" included).
	Flags       []string `json:"flags" yaml:"flags"`
	Description string   `json:"description,omitempty" yaml:"description,omitempty"`
	// App is set on a port made for one application's override, or for
	// its confinement.
	App string `json:"app,omitempty" yaml:"app,omitempty"`
	// Confine runs every application of this port in a network
	// namespace of its own (see confine.go). On a listener Listeners
	// returns, it marks one on the host side of a confined
	// application's veth.
	Confine bool `json:"confine,omitempty" yaml:"confine,omitempty"`

	line      int
	flagLines []int
}

// App is an application and the port it must use.
type App struct {
	Name string `json:"name" yaml:"name"`
	// Port is the name of the port it uses (its override's port, when
	// it has one, is named after the app).
	Port        string    `json:"port" yaml:"port"`
	Description string    `json:"description,omitempty" yaml:"description,omitempty"`
	Override    *Override `json:"override,omitempty" yaml:"override,omitempty"`
	// Confine runs the application in a network namespace of its own,
	// whose only way out is its own listeners (see confine.go).
	Confine bool `json:"confine,omitempty" yaml:"confine,omitempty"`

	line, portLine int
}

// Override gives an application a listener of its own, on the address of
// the port it names, with other flags.
type Override struct {
	Port   int      `json:"port" yaml:"port"`
	Flags  []string `json:"flags" yaml:"flags"`
	Reason string   `json:"reason,omitempty" yaml:"reason,omitempty"`

	line, portLine int
	flagLines      []int
}

// PolicyError lists every problem of a policy, each "file:line: message".
type PolicyError struct {
	Problems []string
}

func (e *PolicyError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0]
	}
	return fmt.Sprintf("%s (and %d more problems)", e.Problems[0], len(e.Problems)-1)
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// Default returns the built-in policy (a fresh copy).
func Default() *Policy {
	p, err := Parse(DefaultName, defaultYAML)
	if err != nil {
		panic("isolation: the built-in policy is invalid: " + err.Error())
	}
	return p
}

// DefaultYAML returns the text of the built-in policy.
func DefaultYAML() []byte { return slices.Clone(defaultYAML) }

// LoadFile reads and checks a policy file (without the check against the
// installed tor's flags: see Validate).
func LoadFile(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxPolicySize {
		return nil, fmt.Errorf("%s: policy larger than %d bytes", path, MaxPolicySize)
	}
	return Parse(path, data)
}

// Parse decodes and checks a policy; source names it in errors.
func Parse(source string, data []byte) (*Policy, error) {
	d := &decoder{file: source}
	p := d.policy(data)
	if len(d.errs) == 0 {
		d.check(p, nil)
	}
	if len(d.errs) > 0 {
		return nil, &PolicyError{Problems: d.errs}
	}
	return p, nil
}

// Validate checks the policy again, and its flags against supported, the
// flags the installed tor knows (see SupportedFlags); a nil map skips that
// check.
func (p *Policy) Validate(supported map[string]bool) error {
	d := &decoder{file: p.Source}
	d.check(p, supported)
	if len(d.errs) > 0 {
		return &PolicyError{Problems: d.errs}
	}
	return nil
}

// App returns the application named name.
func (p *Policy) App(name string) (*App, bool) {
	for i := range p.Apps {
		if p.Apps[i].Name == name {
			return &p.Apps[i], true
		}
	}
	return nil, false
}

// AppNames lists the applications.
func (p *Policy) AppNames() []string {
	var out []string
	for _, a := range p.Apps {
		out = append(out, a.Name)
	}
	return out
}

// Port returns the port named name.
func (p *Policy) Port(name string) (*Port, bool) {
	for i := range p.Ports {
		if p.Ports[i].Name == name {
			return &p.Ports[i], true
		}
	}
	return nil, false
}

// Listeners returns every listener tor must open: the ports, then one per
// application override (named after the app), then the confined
// applications' (see ConfinedApps), in order.
func (p *Policy) Listeners() []Port {
	return append(p.baseListeners(), p.confinedListeners()...)
}

// baseListeners is Listeners without the confined applications'.
func (p *Policy) baseListeners() []Port {
	out := slices.Clone(p.Ports)
	for _, a := range p.Apps {
		if a.Override == nil {
			continue
		}
		base, ok := p.Port(a.Port)
		if !ok {
			continue
		}
		out = append(out, Port{
			Name:        a.Name,
			Type:        TypeSOCKS,
			Listen:      base.Listen,
			Port:        a.Override.Port,
			Flags:       slices.Clone(a.Override.Flags),
			Description: fmt.Sprintf("override of %s for %s: %s", base.Name, a.Name, orDash(a.Override.Reason)),
			App:         a.Name,
			line:        a.Override.line,
			flagLines:   a.Override.flagLines,
		})
	}
	return out
}

// AppListener returns the listener an application uses: its override's,
// or its port's.
func (p *Policy) AppListener(app string) (Port, error) {
	a, ok := p.App(app)
	if !ok {
		return Port{}, fmt.Errorf("unknown app %q: known apps are %s", app, strings.Join(p.AppNames(), ", "))
	}
	for _, l := range p.baseListeners() {
		if (a.Override != nil && l.App == a.Name) || (a.Override == nil && l.App == "" && l.Name == a.Port) {
			return l, nil
		}
	}
	return Port{}, fmt.Errorf("app %q uses port %q, which the policy does not define", app, a.Port)
}

// SocksAddr returns "127.0.0.1:PORT", the address of the application's
// SOCKS port, its port number shifted by offset.
func (p *Policy) SocksAddr(app string, offset int) (string, error) {
	l, err := p.AppListener(app)
	if err != nil {
		return "", err
	}
	if l.Type != TypeSOCKS {
		return "", fmt.Errorf("app %q uses %s, which is not a SOCKS port", app, l.Name)
	}
	return l.Addr(offset)
}

// Addr returns the listener's "address:port", the port shifted by offset.
func (l Port) Addr(offset int) (string, error) {
	n := l.Port + offset
	if n < 1 || n > 65535 {
		return "", fmt.Errorf("port %s: %d shifted by %d is %d, outside 1-65535", l.Name, l.Port, offset, n)
	}
	return net.JoinHostPort(l.Listen, strconv.Itoa(n)), nil
}

// CheckOffset says whether every listener stays in 1-65535 when shifted
// by offset.
func (p *Policy) CheckOffset(offset int) error {
	for _, l := range p.Listeners() {
		if _, err := l.Addr(offset); err != nil {
			return fmt.Errorf("port offset %d: %w", offset, err)
		}
	}
	return nil
}

// ReservedUsername reports whether u is a SOCKS username Tor 0.4.9
// reserves for its own extended parameters: those beginning with
// "<torS0X>" (compared without regard to case, to be safe).
func ReservedUsername(u string) bool {
	const prefix = "<torS0X>"
	return len(u) >= len(prefix) && strings.EqualFold(u[:len(prefix)], prefix)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// decoder builds a Policy from YAML, collecting every problem with its
// line.
type decoder struct {
	file string
	errs []string
}

func (d *decoder) errorf(line int, format string, args ...any) {
	d.errs = append(d.errs, fmt.Sprintf("%s:%d: %s", d.file, line, fmt.Sprintf(format, args...)))
}

func (d *decoder) policy(data []byte) *Policy {
	p := &Policy{Source: d.file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errorf(1, "empty policy: it needs ports and apps")
			return p
		}
		d.errorf(yamlErrLine(err), "not valid YAML: %s", yamlErrMsg(err))
		return p
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errorf(extra.Line, "more than one YAML document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	m := d.mapping(root, "policy", "ports", "apps", "confine-range")
	if m == nil {
		return p
	}
	if v := m["confine-range"]; v != nil {
		p.ConfineRange, p.rangeLine = d.str(v, "confine-range"), v.Line
	}
	if n := m["ports"]; n == nil {
		d.errorf(root.Line, "policy has no ports")
	} else if d.seq(n, "ports") {
		for _, it := range n.Content {
			p.Ports = append(p.Ports, d.port(it))
		}
	}
	if n := m["apps"]; n == nil {
		d.errorf(root.Line, "policy has no apps")
	} else if d.seq(n, "apps") {
		for _, it := range n.Content {
			p.Apps = append(p.Apps, d.app(it))
		}
	}
	return p
}

// mapping returns the values of a mapping node's keys, refusing unknown
// and repeated ones.
func (d *decoder) mapping(n *yaml.Node, what string, keys ...string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, "%s must be a mapping", what)
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(keys, k.Value) {
			d.errorf(k.Line, "unknown key %q in %s (known: %s)", k.Value, what, strings.Join(keys, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			d.errorf(k.Line, "%s repeats key %q", what, k.Value)
			continue
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			continue
		}
		out[k.Value] = v
	}
	return out
}

func (d *decoder) seq(n *yaml.Node, what string) bool {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n.Line, "%s must be a list", what)
		return false
	}
	return true
}

func (d *decoder) str(n *yaml.Node, what string) string {
	if n == nil {
		return ""
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		d.errorf(n.Line, "%s must be a string", what)
		return ""
	}
	if strings.ContainsFunc(n.Value, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		d.errorf(n.Line, "%s holds a control character or line break", what)
		return ""
	}
	return n.Value
}

func (d *decoder) boolean(n *yaml.Node, what string) bool {
	if n == nil {
		return false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.errorf(n.Line, "%s must be true or false", what)
		return false
	}
	return n.Value == "true"
}

func (d *decoder) num(n *yaml.Node, what string) int {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.errorf(n.Line, "%s must be a number", what)
		return 0
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < 1 || v > 65535 {
		d.errorf(n.Line, "%s %s is outside 1-65535", what, n.Value)
		return 0
	}
	return v
}

func (d *decoder) flags(n *yaml.Node, what string) ([]string, []int) {
	if n == nil || !d.seq(n, what) {
		return []string{}, nil
	}
	out, lines := []string{}, []int{}
	for _, f := range n.Content {
		if s := d.str(f, what+" entry"); s != "" {
			out = append(out, s)
			lines = append(lines, f.Line)
		}
	}
	return out, lines
}

func (d *decoder) port(n *yaml.Node) Port {
	pt := Port{line: n.Line, Type: TypeSOCKS, Listen: "127.0.0.1"}
	m := d.mapping(n, "port", "name", "type", "listen", "port", "flags", "description", "confine")
	if m == nil {
		return pt
	}
	pt.Name = d.str(m["name"], "port name")
	if pt.Name == "" && m["name"] == nil {
		d.errorf(n.Line, "port without a name")
	}
	if v := m["type"]; v != nil {
		pt.Type = d.str(v, "port type")
		if pt.Type != TypeSOCKS && pt.Type != TypeTrans && pt.Type != TypeDNS {
			d.errorf(v.Line, "port %s: unknown type %q (use socks, trans or dns)", pt.Name, pt.Type)
		}
	}
	if v := m["listen"]; v != nil {
		pt.Listen = d.str(v, "listen address")
		if a, err := netip.ParseAddr(pt.Listen); err != nil || a.Zone() != "" {
			d.errorf(v.Line, "port %s: listen %q is not an IP address", pt.Name, pt.Listen)
		} else {
			pt.Listen = a.String()
		}
	}
	if v := m["port"]; v != nil {
		pt.Port = d.num(v, "port "+pt.Name+": port")
	} else {
		d.errorf(n.Line, "port %s has no port number", pt.Name)
	}
	pt.Flags, pt.flagLines = d.flags(m["flags"], "port "+pt.Name+": flags")
	pt.Description = d.str(m["description"], "description")
	pt.Confine = d.boolean(m["confine"], "port "+pt.Name+": confine")
	return pt
}

func (d *decoder) app(n *yaml.Node) App {
	a := App{line: n.Line}
	m := d.mapping(n, "app", "name", "port", "description", "override", "confine")
	if m == nil {
		return a
	}
	a.Name = d.str(m["name"], "app name")
	if m["name"] == nil {
		d.errorf(n.Line, "app without a name")
	}
	if v := m["port"]; v != nil {
		a.Port = d.str(v, "app "+a.Name+": port")
		a.portLine = v.Line
	} else {
		d.errorf(n.Line, "app %s names no port", a.Name)
	}
	a.Description = d.str(m["description"], "description")
	a.Confine = d.boolean(m["confine"], "app "+a.Name+": confine")
	if v := m["override"]; v != nil {
		o := &Override{line: v.Line}
		om := d.mapping(v, "override", "port", "flags", "reason")
		if om != nil {
			if pv := om["port"]; pv != nil {
				o.Port = d.num(pv, "app "+a.Name+": override port")
				o.portLine = pv.Line
			} else {
				d.errorf(v.Line, "app %s: an override needs a port number of its own", a.Name)
			}
			o.Flags, o.flagLines = d.flags(om["flags"], "app "+a.Name+": override flags")
			o.Reason = d.str(om["reason"], "reason")
		}
		a.Override = o
	}
	return a
}

// check validates a decoded policy: names, references, port numbers,
// flags.
func (d *decoder) check(p *Policy, supported map[string]bool) {
	if len(p.Ports) == 0 {
		d.errorf(1, "policy has no ports")
	}
	if len(p.Apps) == 0 {
		d.errorf(1, "policy has no apps")
	}
	names := map[string]int{}
	for _, pt := range p.Ports {
		if pt.Name == "" {
			continue
		}
		if !nameRE.MatchString(pt.Name) {
			d.errorf(pt.line, "port name %q: use 1 to 32 of a-z, 0-9 and -, starting with a letter", pt.Name)
		}
		if l, dup := names[pt.Name]; dup {
			d.errorf(pt.line, "port name %q is used twice (first at line %d)", pt.Name, l)
		}
		names[pt.Name] = pt.line
	}
	// Port numbers, per address: override ports included.
	type used struct {
		what string
		line int
	}
	numbers := map[string]used{}
	claim := func(listen string, port, line int, what string) {
		if port == 0 {
			return
		}
		key := net.JoinHostPort(listen, strconv.Itoa(port))
		for k, u := range numbers {
			h, ps, _ := net.SplitHostPort(k)
			if ps != strconv.Itoa(port) {
				continue
			}
			if h == listen || h == "0.0.0.0" || listen == "0.0.0.0" || h == "::" || listen == "::" {
				d.errorf(line, "%s: port number %d is used twice (also by %s at line %d)", what, port, u.what, u.line)
				return
			}
		}
		numbers[key] = used{what, line}
	}
	for _, pt := range p.Ports {
		claim(pt.Listen, pt.Port, pt.line, "port "+pt.Name)
		d.checkFlags(pt.Type, "port "+pt.Name, pt.Flags, pt.flagLines, pt.line, supported)
	}
	apps := map[string]int{}
	for _, a := range p.Apps {
		if a.Name == "" {
			continue
		}
		if !nameRE.MatchString(a.Name) {
			d.errorf(a.line, "app name %q: use 1 to 32 of a-z, 0-9 and -, starting with a letter", a.Name)
		}
		if l, dup := apps[a.Name]; dup {
			d.errorf(a.line, "app %q is listed twice (first at line %d)", a.Name, l)
		}
		apps[a.Name] = a.line
		base, ok := p.Port(a.Port)
		switch {
		case a.Port == "":
		case !ok:
			var known []string
			for _, pt := range p.Ports {
				if pt.Type == TypeSOCKS {
					known = append(known, pt.Name)
				}
			}
			d.errorf(orLine(a.portLine, a.line), "app %s: unknown port %q (SOCKS ports: %s)", a.Name, a.Port, strings.Join(known, ", "))
		case base.Type != TypeSOCKS:
			d.errorf(orLine(a.portLine, a.line), "app %s: port %s is a %s port; applications use SOCKS ports", a.Name, a.Port, base.Type)
		}
		if o := a.Override; o != nil {
			if _, clash := names[a.Name]; clash {
				d.errorf(o.line, "app %s: its override port would be named %q, like an existing port; rename the app", a.Name, a.Name)
			}
			listen := "127.0.0.1"
			if ok {
				listen = base.Listen
			}
			claim(listen, o.Port, orLine(o.portLine, o.line), "app "+a.Name+": override")
			d.checkFlags(TypeSOCKS, "app "+a.Name+" override", o.Flags, o.flagLines, o.line, supported)
		}
	}
	d.checkConfine(p, names, claim)
}

func orLine(l, fallback int) int {
	if l > 0 {
		return l
	}
	return fallback
}

// checkFlags refuses unknown flags, flags not meant for the port's type,
// malformed SessionGroup values and flags the installed tor lacks.
func (d *decoder) checkFlags(typ, who string, flags []string, lines []int, line int, supported map[string]bool) {
	for i, f := range flags {
		l := line
		if i < len(lines) {
			l = lines[i]
		}
		name, val, hasVal := strings.Cut(f, "=")
		if name == "SessionGroup" {
			if n, err := strconv.Atoi(val); !hasVal || err != nil || n < 0 || n > 1<<30 {
				d.errorf(l, "%s: SessionGroup needs a number, as in SessionGroup=1", who)
			}
		} else if hasVal {
			d.errorf(l, "%s: flag %q takes no value", who, f)
			continue
		}
		info, known := lookupFlag(name)
		if !known {
			hint := ""
			if s := suggestFlag(name); s != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", s)
			}
			d.errorf(l, "%s: unknown flag %q%s", who, f, hint)
			continue
		}
		if typ != TypeSOCKS && !info.isolation {
			d.errorf(l, "%s: flag %s is for SOCKS ports only", who, name)
			continue
		}
		if supported != nil && !supported[name] {
			d.errorf(l, "%s: flag %s is not supported by the installed tor", who, name)
		}
	}
}

func yamlErrLine(err error) int {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return 1
	}
	m := regexp.MustCompile(`line (\d+)`).FindStringSubmatch(err.Error())
	if m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 1
}

func yamlErrMsg(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: ")
	s = regexp.MustCompile(`^line \d+: `).ReplaceAllString(s, "")
	return s
}

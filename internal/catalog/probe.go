package catalog

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Probe says how a conformance run (`tails-server check`) proves, from an
// independent client tor, that the service answers through its onion:
// exactly one of TCP, HTTP and Command is set. A file without a probe
// section gets the one its health check implies (see DefaultProbe).
type Probe struct {
	// Port is the virtual port of the onion the probe connects to: one of
	// OnionPorts; the first one when the file names none.
	Port int
	TCP  *TCPProbe
	HTTP *HTTPProbe
	// Command is an argv run under torsocks (never a shell), in which
	// "{host}" and "{port}" stand for the onion host name and Port; it
	// passes when it exits 0.
	Command []string
	// Timeout bounds one attempt (default DefaultProbeTimeout).
	Timeout time.Duration
	// Declared is false for a probe derived from the health check.
	Declared bool
}

// TCPProbe opens a stream to the port, writes Send (if any) and, when
// Expect is set, reads the first bytes (at most MaxProbeRead) until Expect
// matches them.
type TCPProbe struct {
	Send   string
	Expect *regexp.Regexp // nil: the connection alone passes
}

// HTTPProbe sends GET Path through the onion.
type HTTPProbe struct {
	Path string
	// ExpectStatus is the status wanted; 0 means any status below 500.
	ExpectStatus int
	// ExpectBody, when set, must match the body (its first MaxProbeRead
	// bytes).
	ExpectBody *regexp.Regexp
}

// Limits of probes.
const (
	DefaultProbeTimeout = 30 * time.Second
	MaxProbeTimeout     = 5 * time.Minute
	MaxProbeRead        = 64 * 1024 // bytes of a banner or body matched
	maxProbeSend        = 4096
)

// Probe placeholders of a command probe.
const (
	ProbeHost = "{host}"
	ProbePort = "{port}"
)

var placeholderRE = regexp.MustCompile(`\{[A-Za-z_]+\}`)

// DefaultProbe is the probe of a service whose file declares none: its
// health check, through the onion: an HTTP check becomes the same request,
// a TCP or command check a TCP connection to the first onion port.
func (s *Service) DefaultProbe() Probe {
	p := Probe{Timeout: DefaultProbeTimeout}
	if len(s.OnionPorts) > 0 {
		p.Port = s.OnionPorts[0].Virtual
	}
	if h := s.Health.HTTP; h != nil {
		p.HTTP = &HTTPProbe{Path: h.Path, ExpectStatus: h.ExpectStatus}
	} else {
		p.TCP = &TCPProbe{}
	}
	return p
}

// ProbeOrDefault is the file's probe, or DefaultProbe.
func (s *Service) ProbeOrDefault() Probe {
	if s.Probe != nil {
		return *s.Probe
	}
	return s.DefaultProbe()
}

// probe decodes the probe section; s's onion ports are known.
func (d *decoder) probe(n *yaml.Node, s *Service) *Probe {
	f := d.mapping(n, "probe", "tcp", "http", "command", "port", "timeout")
	if f == nil {
		return nil
	}
	p := &Probe{Timeout: DefaultProbeTimeout, Declared: true}
	set := 0
	if v := f.get("tcp"); v != nil {
		set++
		p.TCP = d.tcpProbe(v)
	}
	if v := f.get("http"); v != nil {
		set++
		p.HTTP = d.httpProbe(v)
	}
	if v := f.get("command"); v != nil {
		set++
		p.Command = d.probeCommand(v)
	}
	if set != 1 {
		d.errorf(n, "probe: set exactly one of tcp, http and command")
	}
	if len(s.OnionPorts) > 0 {
		p.Port = s.OnionPorts[0].Virtual
	}
	if v := f.get("port"); v != nil {
		if port, ok := d.integer(v, "probe.port"); ok {
			known := false
			var ports []string
			for _, op := range s.OnionPorts {
				known = known || op.Virtual == port
				ports = append(ports, fmt.Sprint(op.Virtual))
			}
			if !known {
				d.errorf(v, "probe.port: %d is not one of onion_ports (%s); use one of them", port, strings.Join(ports, ", "))
			}
			p.Port = port
		}
	}
	if v := f.get("timeout"); v != nil {
		str, _ := d.scalar(v, "probe.timeout")
		t, err := time.ParseDuration(str)
		if err != nil || t <= 0 || t > MaxProbeTimeout {
			d.errorf(v, "probe.timeout: %q is not a duration between 0 and 5m, like \"30s\"", str)
		}
		p.Timeout = t
	}
	return p
}

func (d *decoder) tcpProbe(n *yaml.Node) *TCPProbe {
	t := &TCPProbe{}
	if n.Kind == yaml.ScalarNode {
		if !d.boolean(n, "probe.tcp") {
			d.errorf(n, "probe.tcp: only true (a connection is enough) or {send, expect} makes sense")
		}
		return t
	}
	f := d.mapping(n, "probe.tcp", "send", "expect")
	if f == nil {
		return t
	}
	if v := f.get("send"); v != nil {
		if s, ok := d.scalar(v, "probe.tcp.send"); ok {
			if len(s) > maxProbeSend {
				d.errorf(v, "probe.tcp.send is longer than %d bytes", maxProbeSend)
			}
			t.Send = s
		}
	}
	if v := f.get("expect"); v != nil {
		t.Expect = d.probeRegexp(v, "probe.tcp.expect")
	}
	return t
}

func (d *decoder) httpProbe(n *yaml.Node) *HTTPProbe {
	h := &HTTPProbe{Path: "/"}
	f := d.mapping(n, "probe.http", "path", "expect_status", "expect_body")
	if f == nil {
		return h
	}
	if v := f.get("path"); v != nil {
		h.Path = d.line(v, "probe.http.path", 1024)
		if !strings.HasPrefix(h.Path, "/") || strings.ContainsAny(h.Path, " \t") {
			d.errorf(v, "probe.http.path: %q must start with / and hold no spaces (escape them as %%20)", h.Path)
		}
	}
	if v := f.get("expect_status"); v != nil {
		h.ExpectStatus, _ = d.integer(v, "probe.http.expect_status")
		if h.ExpectStatus < 100 || h.ExpectStatus > 599 {
			d.errorf(v, "probe.http.expect_status: %d is not an HTTP status (100-599)", h.ExpectStatus)
		}
	}
	if v := f.get("expect_body"); v != nil {
		h.ExpectBody = d.probeRegexp(v, "probe.http.expect_body")
	}
	return h
}

// probeCommand decodes a command probe: an argv whose elements may hold
// the placeholders {host} and {port}, and nothing else in braces.
func (d *decoder) probeCommand(n *yaml.Node) []string {
	argv := d.argv(n, "probe.command")
	for i, a := range argv {
		item := n.Content[i]
		for _, ph := range placeholderRE.FindAllString(a, -1) {
			if ph != ProbeHost && ph != ProbePort {
				d.errorf(item, "probe.command[%d]: unknown placeholder %s; use {host} or {port}", i, ph)
			}
		}
		if strings.Contains(a, "{{") {
			d.errorf(item, "probe.command[%d]: a probe is not a template; write {host} and {port}, not {{...}}", i)
		}
	}
	if len(argv) > 0 {
		switch {
		case argv[0] == "torsocks" || strings.HasSuffix(argv[0], "/torsocks"):
			d.errorf(n.Content[0], "probe.command: leave torsocks out; the command always runs under torsocks")
		case strings.Contains(argv[0], "{"):
			d.errorf(n.Content[0], "probe.command[0]: the program may not hold a placeholder; name it, like curl")
		}
	}
	return argv
}

// probeRegexp compiles a Go regular expression (RE2 syntax).
func (d *decoder) probeRegexp(n *yaml.Node, what string) *regexp.Regexp {
	s, ok := d.scalar(n, what)
	if !ok {
		return nil
	}
	if s == "" {
		d.errorf(n, "%s is empty; remove it or give a regular expression", what)
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		d.errorf(n, "%s: not a Go regular expression (%s); fix it (RE2 syntax: https://pkg.go.dev/regexp/syntax)", what, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		return nil
	}
	return re
}

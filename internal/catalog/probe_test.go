package catalog

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// probeFile is a minimal description with two onion ports and the given
// probe section (indented under "probe:").
func probeFile(probe string) string {
	s := `name: p
title: P
description: A probe test.
backend:
  command: [/usr/bin/python3, -m, http.server, "{{port}}"]
  user: nobody
onion_ports:
  - virtual: 80
  - virtual: 8080
health:
  http: {path: /status}
`
	if probe != "" {
		s += "probe:\n" + probe
	}
	return s
}

func loadProbe(t *testing.T, text string) (*Service, []error) {
	t.Helper()
	fsys := fstest.MapFS{"p.yaml": {Data: []byte(text)}}
	s, _, errs := loadFile(fsys, "p.yaml", "p.yaml")
	return s, errs
}

func TestProbeDecode(t *testing.T) {
	s, errs := loadProbe(t, probeFile("  tcp:\n    send: \"HELLO\\r\\n\"\n    expect: '^SSH-2\\.0-'\n  port: 8080\n  timeout: 5s\n"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	p := s.ProbeOrDefault()
	if !p.Declared || p.Port != 8080 || p.Timeout != 5*time.Second || p.TCP == nil || p.TCP.Send != "HELLO\r\n" ||
		p.TCP.Expect == nil || !p.TCP.Expect.MatchString("SSH-2.0-OpenSSH") {
		t.Fatalf("tcp probe %+v %+v", p, p.TCP)
	}

	s, errs = loadProbe(t, probeFile("  http: {path: /x, expect_status: 200, expect_body: 'Directory listing'}\n"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	p = s.ProbeOrDefault()
	if p.Port != 80 || p.HTTP == nil || p.HTTP.Path != "/x" || p.HTTP.ExpectStatus != 200 || !p.HTTP.ExpectBody.MatchString("a Directory listing for /") {
		t.Fatalf("http probe %+v %+v", p, p.HTTP)
	}

	s, errs = loadProbe(t, probeFile("  command: [curl, -sf, \"http://{host}:{port}/\"]\n"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if p = s.ProbeOrDefault(); strings.Join(p.Command, " ") != "curl -sf http://{host}:{port}/" || p.Timeout != DefaultProbeTimeout {
		t.Fatalf("command probe %+v", p)
	}

	s, errs = loadProbe(t, probeFile("  tcp: true\n"))
	if len(errs) > 0 || s.Probe.TCP == nil || s.Probe.TCP.Expect != nil {
		t.Fatalf("tcp: true: %v %+v", errs, s)
	}
}

// TestDefaultProbe: without a probe section, the health check through the
// onion, on the first onion port.
func TestDefaultProbe(t *testing.T) {
	s, errs := loadProbe(t, probeFile(""))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	p := s.ProbeOrDefault()
	if p.Declared || p.Port != 80 || p.HTTP == nil || p.HTTP.Path != "/status" || p.HTTP.ExpectStatus != 0 {
		t.Fatalf("default probe of an http health check: %+v", p)
	}
	s, errs = loadProbe(t, strings.Replace(probeFile(""), "  http: {path: /status}\n", "  command: [true]\n", 1))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if p = s.ProbeOrDefault(); p.TCP == nil || p.TCP.Expect != nil || p.Port != 80 {
		t.Fatalf("default probe of a command health check: %+v", p)
	}
}

// TestProbeErrors: every unparseable probe is one error naming its line
// and the fix.
func TestProbeErrors(t *testing.T) {
	tests := []struct {
		probe string
		line  int
		want  string
	}{
		{"  tcp: {expect: '(unclosed'}\n", 13, "probe.tcp.expect: not a Go regular expression (missing closing ): `(unclosed`); fix it"},
		{"  http: {expect_body: 'a[b'}\n", 13, "probe.http.expect_body: not a Go regular expression"},
		{"  http: {expect_status: 700}\n", 13, "not an HTTP status (100-599)"},
		{"  http: {path: nope}\n", 13, "must start with /"},
		{"  http: {path: /a b}\n", 13, "hold no spaces"},
		{"  http: {}\n  tcp: true\n", 13, "set exactly one of tcp, http and command"},
		{"  port: 80\n", 13, "set exactly one of tcp, http and command"},
		{"  tcp: true\n  port: 22\n", 14, "probe.port: 22 is not one of onion_ports (80, 8080); use one of them"},
		{"  tcp: false\n", 13, "only true"},
		{"  tcp: {expect: ''}\n", 13, "probe.tcp.expect is empty"},
		{"  tcp: {banner: x}\n", 13, "unknown key \"banner\""},
		{"  command: \"curl http://{host}/\"\n", 13, "not a shell string"},
		{"  command: [curl, \"http://{hots}/\"]\n", 13, "unknown placeholder {hots}; use {host} or {port}"},
		{"  command: [curl, \"http://{{.address}}/\"]\n", 13, "not a template"},
		{"  command: [torsocks, curl, \"http://{host}/\"]\n", 13, "leave torsocks out"},
		{"  command: [\"{host}\"]\n", 13, "may not hold a placeholder"},
		{"  tcp: true\n  timeout: forever\n", 14, "probe.timeout: \"forever\" is not a duration"},
		{"  tcp: true\n  timeout: 6m\n", 14, "between 0 and 5m"},
		{"  colour: blue\n", 13, "probe: unknown key \"colour\""},
	}
	for _, tt := range tests {
		_, errs := loadProbe(t, probeFile(tt.probe))
		if len(errs) == 0 {
			t.Errorf("%q: loaded", tt.probe)
			continue
		}
		le := errs[0].(*LoadError)
		if le.Line != tt.line || !strings.Contains(le.Msg, tt.want) || strings.Contains(le.Error(), "\n") {
			t.Errorf("%q: %v; want line %d and %q", tt.probe, errs, tt.line, tt.want)
		}
	}
}

// TestLoadFile loads one description from outside a catalog directory.
func TestLoadFile(t *testing.T) {
	s, errs := LoadFile("../../services/lighttpd.yaml")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := strings.Join(s.Neighbours(), " "); got != "lighttpd.svg lighttpd.conf.tmpl" {
		t.Errorf("neighbours %q", got)
	}
	if _, errs := LoadFile("testdata/bad/unknown-key.yaml"); len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "testdata/bad/unknown-key.yaml:8: ") {
		t.Errorf("bad file: %v", errs)
	}
	if _, errs := LoadFile("testdata/none.yaml"); len(errs) != 1 || !strings.Contains(errs[0].Error(), "cannot read") {
		t.Errorf("missing file: %v", errs)
	}
}

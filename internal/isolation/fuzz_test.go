package isolation

import (
	"strings"
	"testing"
)

// FuzzParse: no input makes the loader panic, and whatever it accepts
// renders as torrc lines that each hold one listener directive and no
// line break of their own.
func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add([]byte("ports:\n  - name: a\n    port: 1\napps:\n  - name: b\n    port: a\n"))
	f.Add([]byte("ports:\n  - name: a\n    port: 9050\n    flags: [SessionGroup=1, NoIsolateClientAddr]\napps:\n  - name: b\n    port: a\n    override: {port: 9051, flags: [IsolateDestAddr]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml:") {
				t.Fatalf("error without file:line: %v", err)
			}
			return
		}
		lines, err := p.TorrcLines(0)
		if err != nil {
			return
		}
		for _, l := range lines {
			if strings.ContainsAny(l, "\r\n\x00") {
				t.Fatalf("torrc line with a line break: %q", l)
			}
			d, _, _ := strings.Cut(l, " ")
			if d != "SocksPort" && d != "TransPort" && d != "DNSPort" {
				t.Fatalf("unexpected torrc line %q", l)
			}
		}
		text, err := p.Torrc(0)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "SocksPort ") && !strings.HasPrefix(l, "TransPort ") && !strings.HasPrefix(l, "DNSPort ") {
				t.Fatalf("snippet line %q is neither a comment nor a listener", l)
			}
		}
	})
}

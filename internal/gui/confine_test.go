package gui

import (
	"strings"
	"testing"

	"tails-server/internal/apitype"
)

// TestIsolationConfined: the isolation page lists the confined
// applications, their namespace, port and running programs.
func TestIsolationConfined(t *testing.T) {
	f := &fakeAPI{daemon: apitype.Daemon{Network: "testnet", Tor: apitype.Tor{State: "ready", Bootstrap: 100}},
		policy: apitype.IsolationPolicy{Source: "p.yaml", Checked: true,
			Confined: []apitype.IsolationConfined{{App: "browser", Namespace: "ts-browser", Port: "browser-confined", Addr: "10.200.1.1:9150", NSAddr: "10.200.1.2", Programs: 2}}}}
	s, hc := serveFake(t, f)
	got := text(get(t, s, hc, "/isolation"))
	for _, w := range []string{"Confined applications", "browser ts-browser browser-confined 10.200.1.1:9150 10.200.1.2 2"} {
		if !strings.Contains(got, w) {
			t.Errorf("the page does not say %q:\n%s", w, got)
		}
	}
	f.policy.Confined = nil
	if got := text(get(t, s, hc, "/isolation")); strings.Contains(got, "Confined applications") {
		t.Errorf("a policy without confinement shows the section:\n%s", got)
	}
}

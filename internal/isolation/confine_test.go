package isolation

import (
	"strings"
	"testing"

	"tails-server/internal/testenv"
)

const confinedPolicy = `confine-range: 10.77.0.0/16
ports:
  - name: default
    port: 9050
    flags: [IsolateDestAddr, IsolateDestPort]
  - name: browser
    port: 9150
    flags: [IsolateSOCKSAuth, KeepAliveIsolateSOCKSAuth]
    confine: true
apps:
  - name: browser
    port: browser
  - name: mail
    port: default
    confine: true
  - name: chat
    port: default
`

func TestConfinedListeners(t *testing.T) {
	p, err := Parse("confined.yaml", []byte(confinedPolicy))
	if err != nil {
		t.Fatal(err)
	}
	cs := p.ConfinedApps()
	if len(cs) != 2 || cs[0].App != "browser" || cs[1].App != "mail" {
		t.Fatalf("confined apps: %+v", cs)
	}
	if cs[0].Host.String() != "10.77.1.1" || cs[0].NS.String() != "10.77.1.2" || cs[1].Host.String() != "10.77.2.1" {
		t.Errorf("addresses: %s %s %s", cs[0].Host, cs[0].NS, cs[1].Host)
	}
	if p.IsConfined("chat") || !p.IsConfined("mail") {
		t.Error("IsConfined")
	}
	// The unconfined listener stays the app's own for a plain run.
	if a, _ := p.SocksAddr("browser", 0); a != "127.0.0.1:9150" {
		t.Errorf("browser's unconfined port %s", a)
	}
	lines, err := p.TorrcLines(100)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{
		"SocksPort 10.77.1.1:9250 IsolateSOCKSAuth KeepAliveIsolateSOCKSAuth",
		"TransPort 10.77.1.1:9140\n",
		"DNSPort 10.77.1.1:5453\n",
		"SocksPort 10.77.2.1:9150 IsolateDestAddr IsolateDestPort",
		"TransPort 10.77.2.1:9140 IsolateDestAddr IsolateDestPort",
		"DNSPort 10.77.2.1:5453 IsolateDestAddr IsolateDestPort",
		"AutomapHostsOnResolve 1",
		"VirtualAddrNetworkIPv4 10.192.0.0/10",
	} {
		if !strings.Contains(text+"\n", want) {
			t.Errorf("torrc lacks %q:\n%s", want, text)
		}
	}
}

// TestConfinedTorrcVerified: tor --verify-config accepts every
// rendering: the default layout, with its browser confined, and a policy
// confining a port and an app.
func TestConfinedTorrcVerified(t *testing.T) {
	testenv.RequireTor(t)
	withBrowser := Default()
	if err := withBrowser.ConfineTailsBrowser(); err != nil {
		t.Fatal(err)
	}
	custom, err := Parse("confined.yaml", []byte(confinedPolicy))
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*Policy{"default": Default(), "default --confine": withBrowser, "custom": custom} {
		t.Run(name, func(t *testing.T) {
			for _, off := range []int{0, 1000} {
				s, err := p.Torrc(off)
				if err != nil {
					t.Fatal(err)
				}
				verifyTorrc(t, s)
			}
		})
	}
}

func TestConfineBadPolicy(t *testing.T) {
	base := "ports:\n  - name: b\n    port: 9150\n    confine: true\napps:\n  - name: browser\n    port: b\n"
	for _, tc := range []struct{ yaml, want string }{
		{"confine-range: 8.8.0.0/16\n" + base, "confine.yaml:1: confine-range 8.8.0.0/16 is not a private range"},
		{"confine-range: 10.1.2.0/24\n" + base, "give a range from /8 to /23"},
		{"confine-range: nonsense\n" + base, `confine-range "nonsense" is not an IPv4 range`},
		{"confine-range: fd00::/64\n" + base, "is not an IPv4 range"},
		{strings.Replace(base, "confine: true", "confine: yes please", 1), "port b: confine must be true or false"},
		{"confine-range: 10.1.2.0/23\n" + strings.Replace(base, "apps:\n", "apps:\n  - name: other\n    port: b\n", 1), "holds 1 confined apps, the policy has 2"},
		{strings.Replace(base, "ports:\n", "ports:\n  - name: browser-confined\n    port: 9999\n", 1), `port name "browser-confined" is the name of app browser's confined listener`},
		{strings.Replace(base, "ports:\n", "ports:\n  - name: all\n    listen: 0.0.0.0\n    port: 9040\n", 1), "port number 9040 is used twice"},
	} {
		_, err := Parse("confine.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("policy\n%s\ngave %v, want %q", tc.yaml, err, tc.want)
		}
	}
	if err := (&Policy{Source: "x"}).ConfineTailsBrowser(); err == nil {
		t.Error("ConfineTailsBrowser without a browser port")
	}
}

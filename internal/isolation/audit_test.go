package isolation

import (
	"fmt"
	"strings"
	"testing"

	"tails-server/internal/tor"
)

// auditFixture is an Auditor that has seen the default policy's
// listeners (offset 30000) and the probes of its SOCKS ports.
func auditFixture(t *testing.T) *Auditor {
	t.Helper()
	a := &Auditor{Policy: Default(), Offset: 30000}
	a.groups = map[string]*listener{}
	a.byAddr = map[string]*listener{}
	a.streams = map[string]*streamRec{}
	a.conflux = map[string]string{}
	a.circs = map[string][]circUse{}
	a.seenPairs = map[string]bool{}
	a.probeUser = probeUserPrefix + "test"
	a.probeRound = 1
	socks := a.mapListeners(map[string]string{
		"net/listeners/socks": `"127.0.0.1:39050" "127.0.0.1:39062" "127.0.0.1:39063" "127.0.0.1:39150" "127.0.0.1:41111"`,
		"net/listeners/trans": `"127.0.0.1:39040"`,
		"net/listeners/dns":   `"127.0.0.1:35353"`,
	})
	for i := range socks {
		a.handle(0, ev(t, fmt.Sprintf(`STREAM %d NEW 0 tails-server-audit-probe.onion:1 SOURCE_ADDR=127.0.0.1:5000%d PURPOSE=USER SOCKS_USERNAME="%s-1-%d" SOCKS_PASSWORD="x" CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=0 SESSION_GROUP=-%d ISO_FIELDS=SOCKS_USERNAME,SOCKS_PASSWORD,CLIENTADDR,SESSION_GROUP,NYM_EPOCH`, 900+i, i, a.probeUser, i, 10+i)))
	}
	return a
}

func ev(t *testing.T, raw string) tor.Event {
	t.Helper()
	typ, _, _ := strings.Cut(raw, " ")
	return tor.Event{Type: typ, Raw: raw}
}

// group returns the session group the fixture gave the listener at addr.
func group(t *testing.T, a *Auditor, addr string) string {
	t.Helper()
	for k, l := range a.groups {
		if l.addr == addr {
			return strings.TrimPrefix(k, "0|")
		}
	}
	t.Fatalf("no session group for %s", addr)
	return ""
}

// open feeds a stream's NEW and SUCCEEDED events.
func open(t *testing.T, a *Auditor, id, addr, target, user, circ string) {
	t.Helper()
	auth := ""
	if user != "" {
		auth = fmt.Sprintf(` SOCKS_USERNAME="%s" SOCKS_PASSWORD="p"`, user)
	}
	g := group(t, a, addr)
	a.handle(0, ev(t, fmt.Sprintf("STREAM %s NEW 0 %s SOURCE_ADDR=127.0.0.1:6%s PURPOSE=USER%s CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=0 SESSION_GROUP=%s", id, target, id, auth, g)))
	a.handle(0, ev(t, fmt.Sprintf("STREAM %s SENTCONNECT %s %s%s CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=0 SESSION_GROUP=%s", id, circ, target, auth, g)))
	a.handle(0, ev(t, fmt.Sprintf("STREAM %s SUCCEEDED %s %s%s CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=0 SESSION_GROUP=%s", id, circ, target, auth, g)))
}

func TestAuditViolations(t *testing.T) {
	a := auditFixture(t)
	// Allowed: the upgrader shares one circuit across destinations; the
	// browser shares one per username whatever the destination; one
	// destination on the default port shares.
	open(t, a, "1", "127.0.0.1:39063", "127.0.0.2:80", "", "5")
	open(t, a, "2", "127.0.0.1:39063", "127.0.0.3:443", "", "5")
	open(t, a, "3", "127.0.0.1:39150", "127.0.0.2:80", "site-a", "6")
	open(t, a, "4", "127.0.0.1:39150", "127.0.0.3:81", "site-a", "6")
	open(t, a, "5", "127.0.0.1:39050", "127.0.0.2:80", "", "7")
	open(t, a, "6", "127.0.0.1:39050", "127.0.0.2:80", "", "7")
	if r := a.Report(); len(r.Violations) != 0 {
		t.Fatalf("violations where the policy allows sharing: %+v", r.Violations)
	}
	// Forbidden: each of these joins a circuit it must not.
	open(t, a, "7", "127.0.0.1:39150", "127.0.0.2:80", "site-b", "6") // other username
	open(t, a, "8", "127.0.0.1:39050", "127.0.0.3:80", "", "7")       // other address
	open(t, a, "9", "127.0.0.1:39062", "127.0.0.2:80", "", "7")       // other port
	open(t, a, "10", "127.0.0.1:39050", "127.0.0.2:8080", "", "7")    // other destination port
	open(t, a, "11", "127.0.0.1:41111", "127.0.0.2:80", "", "5")      // a listener outside the policy
	r := a.Report()
	want := map[string]string{
		"6 3 7":  "port browser isolates by SOCKS username and password",
		"7 5 8":  "port default isolates by destination address",
		"7 5 9":  "different ports (default and system)",
		"7 5 10": "port default isolates by destination port",
		"5 1 11": "different ports (upgrader and 127.0.0.1:41111)",
	}
	got := map[string]string{}
	for _, v := range r.Violations {
		k := v.Circuit + " " + v.First + " " + v.Second
		if _, seen := got[k]; !seen {
			got[k] = v.Reason
		}
	}
	for k, reason := range want {
		if !strings.Contains(got[k], reason) {
			t.Errorf("violation %s: %q, want %q", k, got[k], reason)
		}
	}
	// Per port and user.
	for _, p := range r.Ports {
		switch p.Port {
		case "browser":
			if p.Streams != 3 || len(p.Users) != 2 || p.Users[0].Username != "site-a" || p.Users[0].Streams != 2 {
				t.Errorf("browser port: %+v", p)
			}
		case "upgrader":
			if p.Streams != 2 || len(p.Circuits) != 1 || strings.Join(p.Apps, ",") != "upgrader" {
				t.Errorf("upgrader port: %+v", p)
			}
		}
	}
	if len(r.Streams) != 11 {
		t.Errorf("%d streams, want 11 (probes and tor's own streams left out)", len(r.Streams))
	}
}

func TestAuditConflux(t *testing.T) {
	a := auditFixture(t)
	a.handle(0, ev(t, "CIRC 20 BUILT $A~a,$B~b,$C~c PURPOSE=CONFLUX_LINKED CONFLUX_ID=ABCD"))
	a.handle(0, ev(t, "CIRC 21 BUILT $A~a,$D~d,$C~c PURPOSE=CONFLUX_LINKED CONFLUX_ID=ABCD"))
	open(t, a, "1", "127.0.0.1:39050", "127.0.0.2:80", "", "20")
	open(t, a, "2", "127.0.0.1:39050", "127.0.0.3:80", "", "21")
	r := a.Report()
	if len(r.Violations) != 1 || r.Violations[0].Circuit != "conflux:ABCD" {
		t.Errorf("two legs of one conflux set: %+v", r.Violations)
	}
	// Directory fetches are tor's own.
	a.handle(0, ev(t, "STREAM 50 NEW 0 127.0.0.1.$AA.exit:41971 PURPOSE=DIR_FETCH CLIENT_PROTOCOL=UNKNOWN NYM_EPOCH=0 SESSION_GROUP=-2 ISO_FIELDS=SESSION_GROUP"))
	if n := len(a.Report().Streams); n != 2 {
		t.Errorf("%d streams after a directory fetch, want 2", n)
	}
}

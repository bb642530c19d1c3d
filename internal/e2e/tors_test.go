package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOnionsSpreadOverTors: with --onions-per-tor 2, a third service makes
// the daemon launch a second tor; all three are reachable from an
// independent client; a kill -9 of the second tor brings back only its
// onion, on the same address, and leaves the first tor alone; disabling a
// service frees its place for the next.
func TestOnionsSpreadOverTors(t *testing.T) {
	requireNet(t)
	tmp := t.TempDir()
	cat := fiftyCatalog(t, 4)
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"), "--catalog", cat, "--onions-per-tor", "2")

	var creds []string
	for i := range 3 {
		name := fmt.Sprintf("site%02d", i)
		d.mustCLI("client", "add", name, "bob")
		creds = append(creds, strings.TrimSpace(d.mustCLI("client", "show", name, "bob", "--format", "auth-private")))
		if out := d.mustCLI("enable", name, "--wait", "150s"); !strings.Contains(out, "reachable: true") {
			t.Fatalf("enable %s:\n%s", name, out)
		}
	}
	st := d.status()
	if len(st.MoreTors) != 1 || st.MoreTors[0].PID == 0 || st.MoreTors[0].PID == st.Tor.PID || st.MoreTors[0].State != "ready" {
		t.Fatalf("3 onions at 2 per tor: want a second tor, ready, status %+v / %+v", st.Tor, st.MoreTors)
	}
	for i, want := range []int{1, 1, 2} {
		if got := d.service(fmt.Sprintf("site%02d", i)).Details.Tor; got != want {
			t.Fatalf("site%02d on tor %d, want %d", i, got, want)
		}
	}

	if out := d.mustCLI("settings"); !strings.Contains(out, "tors: 2\n") || !strings.Contains(out, "onions_per_tor: 2\n") {
		t.Fatalf("settings does not say that 2 tors run, 2 onions each:\n%s", out)
	}
	g := &guiDaemon{daemon: d}
	if _, page := g.session(t).get(t, "/settings"); !regexp.MustCompile(`Further tors</dt><dd><span class="badge ok">ready</span>`).MatchString(page) {
		t.Fatalf("the GUI's settings page does not show the second tor, ready:\n%s", page)
	}

	bob := newOnionClient(t, "bob", creds...)
	fetch := func(i int) func() error {
		return func() error {
			url := "http://" + d.service(fmt.Sprintf("site%02d", i)).OnionAddress + "/"
			page, err := bob.curl(url)
			if err == nil && !strings.Contains(page, fmt.Sprintf("<title>Site %d</title>", i)) {
				err = fmt.Errorf("%s: unexpected page %q", url, page)
			}
			return err
		}
	}
	for i := range 3 {
		waitFor(t, 90*time.Second, fmt.Sprintf("fetch site%02d from an independent client", i), fetch(i))
	}

	addr := d.service("site02").OnionAddress
	killed := time.Now()
	if err := syscall.Kill(st.MoreTors[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 300*time.Second, "site02 reachable again after its tor was killed", func() error {
		s := d.service("site02")
		if c := s.Details.LastCheck; c == nil || !c.OK || c.Time.Before(killed) {
			return fmt.Errorf("state %s: %s", s.State, s.Error)
		}
		return nil
	})
	now := d.status()
	if now.Tor.PID != st.Tor.PID || now.Tor.Restarts != st.Tor.Restarts {
		t.Fatalf("the first tor was restarted too: pid %d -> %d", st.Tor.PID, now.Tor.PID)
	}
	if len(now.MoreTors) != 1 || now.MoreTors[0].PID == st.MoreTors[0].PID || now.MoreTors[0].Restarts != 1 {
		t.Fatalf("second tor after kill -9: %+v", now.MoreTors)
	}
	if got := d.service("site02").OnionAddress; got != addr {
		t.Fatalf("site02 came back at %s, was %s", got, addr)
	}
	for _, i := range []int{0, 1} {
		if c := d.service(fmt.Sprintf("site%02d", i)).Details.LastCheck; c != nil && c.Time.After(killed) && !c.OK {
			t.Fatalf("site%02d, on the first tor, failed a check after the second tor was killed: %s", i, c.Error)
		}
	}
	waitFor(t, 120*time.Second, "fetch site02 after its tor came back", fetch(2))

	// site01's place on the first tor goes to the next service enabled.
	d.mustCLI("disable", "site01")
	if out := d.mustCLI("enable", "site03", "--wait", "150s"); !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable site03:\n%s", out)
	}
	if got := d.service("site03").Details.Tor; got != 1 {
		t.Fatalf("site03 on tor %d, want site01's place on tor 1", got)
	}
	if n := len(d.status().MoreTors); n != 1 {
		t.Fatalf("%d further tors for 3 onions at 2 per tor, want 1", n)
	}
}

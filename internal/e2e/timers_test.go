package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/socks"
)

// socksCodeUntil is socksCode for an attempt that ends by deadline: the
// SOCKS reply code tor gives for addr (0: connected), or the error.
func (c *onionClient) socksCodeUntil(addr string, deadline time.Time) (byte, error) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	conn, err := socks.Dial(ctx, c.tor.SocksAddr, addr, nil)
	if err == nil {
		conn.Close()
		return 0, nil
	}
	var re *socks.ReplyError
	if errors.As(err, &re) {
		return re.Code, nil
	}
	return 0xff, err
}

// optionValue returns the current value of a service's option.
func optionValue(s apitype.Service, name string) string {
	for _, o := range s.Options {
		if o.Name == name {
			return o.Value
		}
	}
	return ""
}

// TestTimersEndToEnd drives fileshare's timers with the real binary on
// the private network, an independent client tor checking the onion and
// a restart of the daemon in the middle of each: start-at 20 s ahead (not
// reachable before, reachable after), then stop-after 30s (the onion gone
// after it, status saying why).
func TestTimersEndToEnd(t *testing.T) {
	requireNet(t)
	tmp := t.TempDir()
	state, socket := filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock")
	d := startDaemon(t, state, socket)
	parent := t
	restart := func(t *testing.T) *daemon {
		t.Helper()
		d.stop()
		d = startDaemon(parent, state, socket)
		return d.in(t)
	}

	// The address, a credential for the client, and a file to share,
	// before anything is published.
	d.mustCLI("set-option", "fileshare", "start-at", "+1h")
	if out := d.mustCLI("enable", "fileshare"); !strings.Contains(out, "state: scheduled") {
		t.Fatalf("enable before start-at:\n%s", out)
	}
	svc := d.service("fileshare")
	addr := svc.OnionAddress
	d.mustCLI("client", "add", "fileshare", "ann")
	cred := strings.TrimSpace(d.mustCLI("client", "show", "fileshare", "ann", "--format", "auth-private"))
	share := filepath.Join(svc.Details.DataDir, "data", "share")
	if err := os.MkdirAll(share, 0o755); err != nil {
		t.Fatal(err)
	}
	const body = "the agenda\n"
	if err := os.WriteFile(filepath.Join(share, "agenda.txt"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	d.mustCLI("disable", "fileshare")
	ann := newOnionClient(t, "ann", cred)
	url := "http://" + addr + "/files/agenda.txt"
	fetch := func() error {
		res, err := ann.curlRaw(url)
		if err == nil && (res.code != 200 || string(res.body) != body) {
			err = fmt.Errorf("HTTP %d: %q", res.code, res.body)
		}
		return err
	}

	t.Run("start-at 20s ahead, daemon restarted before it", func(t *testing.T) {
		d := d.in(t)
		d.mustCLI("set-option", "fileshare", "start-at", "+20s")
		at, err := time.Parse(time.RFC3339, optionValue(d.service("fileshare"), "start-at"))
		if err != nil {
			t.Fatal(err)
		}
		out := d.mustCLI("enable", "fileshare")
		for _, want := range []string{"state: scheduled", "scheduled: publishes at " + at.Format(time.RFC3339) + " (in "} {
			if !strings.Contains(out, want) {
				t.Fatalf("enable lacks %q:\n%s", want, out)
			}
		}
		// Not reachable before: the client's attempt, ended before the
		// time, gets nothing.
		if time.Until(at) > 3*time.Second {
			code, err := ann.socksCodeUntil(addr+":80", at.Add(-time.Second))
			if err == nil && code == 0 {
				t.Fatalf("reachable through the onion before start-at (%s)", at.Format(time.RFC3339))
			}
			t.Logf("before start-at, the client got: code %#x, %v", code, err)
		}
		d = restart(t)
		// Until the time, the restarted daemon keeps it scheduled:
		// nothing published before start-at.
		for time.Now().Before(at.Add(-time.Second)) {
			s := d.service("fileshare")
			if !s.Enabled {
				t.Fatalf("the restart lost the enable: state %s, %s", s.State, s.Error)
			}
			if s.State != apitype.StateScheduled && s.State != apitype.StateDisabled { // disabled: the daemon's start not run yet
				t.Fatalf("state %s before start-at %s", s.State, at.Format(time.RFC3339))
			}
			if s.State == apitype.StateScheduled && (s.StartsAt == nil || !s.StartsAt.Equal(at)) {
				t.Fatalf("after the restart, starts_at %v, want %s", s.StartsAt, at.Format(time.RFC3339))
			}
			time.Sleep(500 * time.Millisecond)
		}
		// Reachable after it.
		ann.forget(t)
		waitFor(t, 300*time.Second, "the file through the onion after start-at", fetch)
		t.Logf("start-at %s: the client fetched the file %.1f s after it", at.Format(time.RFC3339), time.Since(at).Seconds())
		if s := d.service("fileshare"); !s.Enabled || s.State == apitype.StateScheduled || s.StartsAt != nil {
			t.Fatalf("after start-at: enabled %v, state %s, starts_at %v", s.Enabled, s.State, s.StartsAt)
		}
		if st := d.mustCLI("status", "fileshare"); strings.Contains(st, "scheduled:") {
			t.Fatalf("status after start-at:\n%s", st)
		}
	})

	t.Run("stop-after 30s, daemon restarted before it runs out", func(t *testing.T) {
		d := d.in(t)
		d.mustCLI("disable", "fileshare")
		d.mustCLI("set-option", "fileshare", "start-at", "")
		d.mustCLI("set-option", "fileshare", "stop-after", "30s")
		begin := time.Now()
		// Not waiting to be reachable: the restart must fit in the 30 s.
		if out, errOut, code := d.cli("enable", "fileshare", "--wait", "1s"); code != 0 && code != 4 {
			t.Fatalf("enable: exit %d\n%s%s", code, out, errOut)
		}
		var stopsAt time.Time
		waitFor(t, 120*time.Second, "the onion added, with its deadline", func() error {
			s := d.service("fileshare")
			if s.StopsAt == nil {
				return fmt.Errorf("state %s, no stops_at", s.State)
			}
			stopsAt = *s.StopsAt
			return nil
		})
		seen := time.Now()
		if stopsAt.Before(begin.Add(30*time.Second).Truncate(time.Second)) || stopsAt.After(seen.Add(31*time.Second)) {
			t.Fatalf("stops_at %s is not 30 s after the publication (enable at %s, deadline seen at %s)",
				stopsAt.Format(time.RFC3339), begin.Format(time.RFC3339), seen.Format(time.RFC3339))
		}
		if st := d.mustCLI("status", "fileshare"); !strings.Contains(st, "stops_at: "+stopsAt.Format(time.RFC3339)) || !strings.Contains(st, "(stop-after)") {
			t.Fatalf("status while it runs:\n%s", st)
		}
		d = restart(t)
		t.Logf("stop-after: the daemon runs again %.1f s before the deadline", time.Until(stopsAt).Seconds())
		if time.Now().Before(stopsAt) {
			s := d.service("fileshare")
			if !s.Enabled || s.StopsAt == nil || !s.StopsAt.Equal(stopsAt) {
				t.Fatalf("after the restart, before the deadline: enabled %v, stops_at %v, want %s", s.Enabled, s.StopsAt, stopsAt.Format(time.RFC3339))
			}
		}
		// Gone after it: disabled, with the reason, and the onion
		// withdrawn for the client.
		waitFor(t, time.Until(stopsAt)+90*time.Second, "disabled by stop-after", func() error {
			if s := d.service("fileshare"); s.Enabled || s.State != apitype.StateDisabled {
				return fmt.Errorf("enabled %v, state %s, stops_at %v", s.Enabled, s.State, s.StopsAt)
			}
			return nil
		})
		if time.Now().Before(stopsAt) {
			t.Fatalf("disabled before its deadline %s", stopsAt.Format(time.RFC3339))
		}
		t.Logf("stop-after: deadline %s (set %.1f s after enable), disabled seen %.1f s after it",
			stopsAt.Format(time.RFC3339), stopsAt.Sub(begin).Seconds(), time.Since(stopsAt).Seconds())
		st := d.mustCLI("status", "fileshare")
		if !strings.Contains(st, "error: stopped by stop-after after 30s") || strings.Contains(st, "stops_in") {
			t.Fatalf("status does not say why:\n%s", st)
		}
		ann.forget(t)
		waitFor(t, 120*time.Second, "the onion stops answering", func() error {
			if res, err := ann.curlRaw(url); err == nil {
				return fmt.Errorf("still answers HTTP %d", res.code)
			}
			return nil
		})
		t.Logf("stop-after: the client got nothing %.1f s after the deadline", time.Since(stopsAt).Seconds())
	})

	t.Run("bad values refused", func(t *testing.T) {
		d := d.in(t)
		for option, value := range map[string]string{"stop-after": "10 minutes", "start-at": "2020-01-01T00:00:00Z"} {
			out, errOut, code := d.cli("set-option", "fileshare", option, value)
			if code == 0 || !strings.HasPrefix(errOut, "tails-server: error: option \""+option+"\": value") || strings.Count(strings.TrimSpace(errOut), "\n") > 1 {
				t.Fatalf("set-option %s %q: exit %d\n%s%s", option, value, code, out, errOut)
			}
		}
		if v := optionValue(d.service("fileshare"), "stop-after"); v != "30s" {
			t.Fatalf("stop-after is %q after a refused value", v)
		}
	})
}

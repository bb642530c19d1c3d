package cli

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"tails-server/internal/apitype"
)

// TestStatusShowsTimers: status says when a scheduled service publishes
// and how long that is, instead of an error line, and how long a share
// with stop-after has left.
func TestStatusShowsTimers(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	starts, stops := now.Add(19*time.Second), now.Add(29*time.Minute+41*time.Second)
	for _, c := range []struct {
		svc        apitype.Service
		want, lack []string
	}{
		{apitype.Service{Name: "fileshare", State: apitype.StateScheduled, Enabled: true, StartsAt: &starts, Error: "publishes at 2026-12-02T08:00:19Z (start-at)"},
			[]string{"state: scheduled\n", "scheduled: publishes at 2026-12-02T08:00:19Z (in 19s)\n", "starts_at: 2026-12-02T08:00:19Z\n"},
			[]string{"error:", "stops_in"}},
		{apitype.Service{Name: "fileshare", State: apitype.StateReachable, Enabled: true, Reachable: true, StopsAt: &stops},
			[]string{"stops_in: 29m41s (stop-after)\n", "stops_at: 2026-12-02T08:29:41Z\n"},
			[]string{"scheduled:", "starts_at"}},
		{apitype.Service{Name: "fileshare", State: apitype.StateDisabled, Error: "stopped by stop-after after 30s; enable it again to publish it again"},
			[]string{"error: stopped by stop-after after 30s; enable it again to publish it again\n"},
			[]string{"stops_in", "scheduled:"}},
	} {
		b, err := yaml.Marshal(toStatusAt(c.svc, now))
		if err != nil {
			t.Fatal(err)
		}
		out := string(b)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: status lacks %q:\n%s", c.svc.State, w, out)
			}
		}
		for _, l := range c.lack {
			if strings.Contains(out, l) {
				t.Errorf("%s: status has %q:\n%s", c.svc.State, l, out)
			}
		}
	}
	if got := timeLeft(now.Add(-time.Second), now); got != "0s" {
		t.Errorf("time left of a past deadline: %q", got)
	}
	if got := timeLeft(now.Add(2*time.Hour), now); got != "2h" {
		t.Errorf("time left of 2h: %q", got)
	}
}

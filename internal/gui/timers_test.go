package gui

import (
	"testing"

	"tails-server/internal/apitype"
)

// TestScheduledRow: a service enabled before its start-at time shows as
// scheduled, with when it publishes, not as an unknown state; a refused
// duration or time gets no hint besides the daemon's own rule.
func TestScheduledRow(t *testing.T) {
	r := row(apitype.Service{Name: "fileshare", Enabled: true, Installed: true, State: apitype.StateScheduled,
		Error: "publishes at 2026-12-02T08:00:20Z (start-at)"})
	if r.StateLabel != "Scheduled" || r.StateClass != "busy" || r.Health != "Scheduled: publishes at 2026-12-02T08:00:20Z (start-at)" {
		t.Fatalf("scheduled row: %q, %q, %q", r.StateLabel, r.StateClass, r.Health)
	}
	for _, typ := range []string{"duration", "time"} {
		if h := fixHint(apitype.Option{Type: typ}); h != "" {
			t.Errorf("%s: hint %q besides the daemon's rule", typ, h)
		}
	}
}

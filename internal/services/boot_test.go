package services

import (
	"os"
	"path/filepath"
	"testing"
)

// TestBootDecidesBeforeStart: after a boot (no boot marker in the
// volatile root) a service with autostart off is disabled by Boot alone,
// before Start brings anything back, so the daemon's first answer never
// shows it enabled; after a restart of the daemon alone (marker present)
// Boot leaves it enabled. The daemon once answered status before Start
// had made the decision.
func TestBootDecidesBeforeStart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		marker bool
		want   bool
	}{
		{"after a boot", false, false},
		{"after a restart of the daemon", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			svc := filepath.Join(dir, "state", "services", "fileshare")
			files := map[string]string{
				filepath.Join(svc, "service.json"): `{"name":"fileshare","enabled":true,"persistent":true,"options":{"autostart":"false"}}`,
			}
			if tc.marker {
				files[filepath.Join(dir, "volatile", bootMarker)] = ""
			}
			for path, body := range files {
				if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			r := newTimerRig(t, dir, &fakeClock{now: t0})
			r.m.Boot()
			if s := r.info(); s.Enabled != tc.want || r.running() {
				t.Fatalf("after Boot: enabled %v (want %v), running %v", s.Enabled, tc.want, r.running())
			}
			// The decision is kept on disk: a second daemon start the
			// same boot does not bring it back.
			if !tc.want {
				n := newTimerRig(t, dir, &fakeClock{now: t0})
				n.m.Boot()
				if n.info().Enabled {
					t.Fatal("disabled at boot, enabled again at the next daemon start")
				}
			}
		})
	}
}

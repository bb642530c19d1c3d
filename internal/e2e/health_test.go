package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/tor"
)

// healthStatus is what the test reads of `status -o json`.
type healthStatus struct {
	Reachable    bool             `json:"reachable"`
	Uptime       []apitype.Uptime `json:"uptime"`
	LastFailures []apitype.Check  `json:"last_failures"`
}

func (d *daemon) healthStatus(name string) healthStatus {
	d.t.Helper()
	var h healthStatus
	out := d.mustCLI("-o", "json", "status", name)
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		d.t.Fatalf("status -o json: %v\n%s", err, out)
	}
	if len(h.Uptime) != 3 || h.Uptime[0].Window != "1h" || h.Uptime[1].Window != "24h" || h.Uptime[2].Window != "7d" {
		d.t.Fatalf("status shows no uptime over 1h, 24h, 7d:\n%s", out)
	}
	return h
}

// TestHealthRecord: the daemon's tor loses its network for a while; the
// self-checks fail, status shows the failures (at the "connect" step)
// and an uptime below 100 %, and both are still there after a restart of
// the daemon, read from the health record in the service's persistent
// root.
func TestHealthRecord(t *testing.T) {
	requireNet(t)
	tmp := t.TempDir()
	state := filepath.Join(tmp, "state")
	sock := filepath.Join(tmp, "api.sock")
	d := startDaemon(t, state, sock, "--check-interval", "3s")
	d.mustCLI("set-option", "web", "persistence", "true")
	d.mustCLI("enable", "web", "--wait", "150s")
	var before healthStatus
	waitFor(t, 60*time.Second, "three passed checks in the record", func() error {
		before = d.healthStatus("web")
		if u := before.Uptime[0]; u.Checks < 3 || u.Failed != 0 || u.Percent == nil || *u.Percent != 100 {
			return fmt.Errorf("uptime %+v", u)
		}
		return nil
	})
	if len(before.LastFailures) != 0 {
		t.Fatalf("failures before the outage: %+v", before.LastFailures)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ctl := daemonTorControl(t, ctx, state)
	outage := time.Now()
	if err := ctl.SetConf(ctx, tor.KeyValue{Key: "DisableNetwork", Value: "1"}); err != nil {
		t.Fatal(err)
	}
	// A check through the offline tor waits out its 60 s timeout.
	var during healthStatus
	waitFor(t, 150*time.Second, "a failure in status", func() error {
		during = d.healthStatus("web")
		if len(during.LastFailures) == 0 {
			return fmt.Errorf("no failure yet, uptime %+v", during.Uptime[0])
		}
		return nil
	})
	// The outage lasts a minute.
	waitFor(t, 90*time.Second, "a minute of outage", func() error {
		if s := time.Since(outage); s < time.Minute {
			return fmt.Errorf("%.0f s", s.Seconds())
		}
		return nil
	})
	during = d.healthStatus("web")
	if err := ctl.SetConf(ctx, tor.KeyValue{Key: "DisableNetwork", Value: "0"}); err != nil {
		t.Fatal(err)
	}
	t.Logf("after %.0f s of outage: uptime over 1h %+v (%.1f %%), %d failures, the newest %+v", time.Since(outage).Seconds(),
		during.Uptime[0], *during.Uptime[0].Percent, len(during.LastFailures), during.LastFailures[0])
	f := during.LastFailures[0]
	if f.Step != "connect" || f.Error == "" || f.Time.Before(outage.Add(-5*time.Second)) {
		t.Fatalf("the failure: %+v (want step connect, an error, during the outage)", f)
	}
	for i, u := range during.Uptime {
		if u.Failed < 1 || u.Percent == nil || *u.Percent >= 100 {
			t.Fatalf("uptime over %s does not show the outage: %+v", []string{"1h", "24h", "7d"}[i], u)
		}
	}
	if !strings.Contains(d.mustCLI("status", "web"), "last_failures:") {
		t.Fatalf("the YAML status names no last_failures")
	}

	d.stop()
	if _, err := os.Stat(filepath.Join(state, "services", "web", "health.log")); err != nil {
		t.Fatalf("the record is not in the persistent root: %v", err)
	}
	d = startDaemon(t, state, sock, "--check-interval", "3s")
	after := d.healthStatus("web")
	if len(after.LastFailures) == 0 || !after.LastFailures[len(after.LastFailures)-1].Time.Equal(during.LastFailures[len(during.LastFailures)-1].Time) {
		t.Fatalf("failures after the restart %+v, before %+v", after.LastFailures, during.LastFailures)
	}
	if u := after.Uptime[0]; u.Checks < during.Uptime[0].Checks || u.Failed < during.Uptime[0].Failed || *u.Percent >= 100 {
		t.Fatalf("uptime after the restart %+v, before %+v", u, during.Uptime[0])
	}
	// The restored service passes its checks again, and the record goes on.
	waitFor(t, 240*time.Second, "passing checks after the restart", func() error {
		h := d.healthStatus("web")
		if !h.Reachable || h.Uptime[0].Checks <= after.Uptime[0].Checks {
			return fmt.Errorf("reachable %v, uptime %+v", h.Reachable, h.Uptime[0])
		}
		return nil
	})
}

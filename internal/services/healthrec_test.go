package services

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/health"
	"tails-server/internal/store"
	catalogfs "tails-server/services"
)

// TestHealthRecordMovesWithPersistence: a recorded failure shows in info,
// its file is in the service's root, moves to the persistent root with
// the service, and is read from there by a new manager (a restart).
func TestHealthRecordMovesWithPersistence(t *testing.T) {
	dir := t.TempDir()
	pdir, vdir := filepath.Join(dir, "state"), filepath.Join(dir, "volatile")
	st, err := store.Open(pdir, vdir)
	if err != nil {
		t.Fatal(err)
	}
	cat, _ := catalog.Load(catalogfs.FS)
	m, err := New(st, OneTor{T: countedTor{}}, cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := m.get("web")
	now := time.Now()
	m.recordCheck(s, apitype.Check{Time: now.Add(-2 * time.Minute), OK: true, Duration: time.Second})
	m.recordCheck(s, apitype.Check{Time: now.Add(-time.Minute), Duration: 60 * time.Second, Step: health.StepConnect, Error: "socks: host unreachable"})
	if _, err := os.Stat(filepath.Join(vdir, "services", "web", health.FileName)); err != nil {
		t.Fatalf("the record is not in the volatile service root: %v", err)
	}
	if _, err := m.SetOption(context.Background(), "web", catalog.OptPersistence, "true"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(pdir, "services", "web", health.FileName)); err != nil {
		t.Fatalf("the record did not move with the service: %v", err)
	}
	m2, err := New(st, OneTor{T: countedTor{}}, cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := m2.Info("web", false, false)
	if err != nil {
		t.Fatal(err)
	}
	h := info.Health
	if h == nil || len(h.Uptime) != 3 || h.Uptime[0].Window != "1h" || h.Uptime[0].Checks != 2 || *h.Uptime[0].Percent != 50 {
		t.Fatalf("health after the move and a restart: %+v", h)
	}
	if len(h.LastFailures) != 1 || h.LastFailures[0].Step != health.StepConnect || len(h.Chart) != chartSlices {
		t.Fatalf("failures %+v, chart %d slices", h.LastFailures, len(h.Chart))
	}
	if l := m2.List(); l[0].Health == nil || l[0].Health.Chart != nil {
		t.Fatalf("list: the chart is for one service only")
	}
}

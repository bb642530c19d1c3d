package e2e

import (
	"context"
	"fmt"
	"sort"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/client"
)

// BenchmarkRecovery kills the daemon's tor (SIGKILL) with n services
// enabled and measures, per service, when its descriptor was uploaded
// again and when its self-check passed again; it reports the slowest of
// each, so that the time for 50 can be set against the time for 1 from
// the same run, and the phases show where the time goes.
func BenchmarkRecovery(b *testing.B) {
	if tnet == nil {
		b.Fatal("no private network: run `make bench`")
	}
	const n = 50
	cat := fiftyCatalog(b, n)
	var all1, all50 []float64
	for range b.N {
		for _, k := range []int{1, n} {
			d := benchDaemonWith(b, "--catalog", cat)
			c := client.New(d.socket)
			enableAll(b, c, k)
			waitAllReachable(b, c, k)
			upload, reach := recoveryPhases(b, c, k)
			d.stop()
			b.Logf("%2d services: tor back %.1f s; descriptors uploaded p50 %.1f s max %.1f s; reachable p50 %.1f s max %.1f s",
				k, upload[0], percentile(upload[1:], 50), percentile(upload[1:], 100), percentile(reach, 50), percentile(reach, 100))
			if k == 1 {
				all1 = append(all1, percentile(reach, 100))
			} else {
				all50 = append(all50, percentile(reach, 100))
			}
		}
	}
	b.ReportMetric(median(all1), "s-recovery-1")
	b.ReportMetric(median(all50), "s-recovery-50")
	b.ReportMetric(median(all50)/median(all1), "recovery-ratio")
}

// recoveryPhases kills tor and returns, in seconds since the kill: tor
// ready again followed by each service's first descriptor upload, and
// each service's first passing self-check.
func recoveryPhases(b *testing.B, c *client.Client, n int) (upload, reach []float64) {
	ctx := context.Background()
	st, err := c.Daemon(ctx)
	if err != nil || st.Tor.PID == 0 {
		b.Fatalf("daemon status: %v", err)
	}
	start := time.Now()
	syscall.Kill(st.Tor.PID, syscall.SIGKILL)
	since := func() float64 { return time.Since(start).Seconds() }
	for {
		s, err := c.Daemon(ctx)
		if err == nil && s.Tor.PID != st.Tor.PID && s.Tor.State == "ready" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	upload = []float64{since()}
	uploaded, reached := map[string]float64{}, map[string]float64{}
	deadline := start.Add(15 * time.Minute)
	for len(reached) < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d reachable after recovery", len(reached), n)
		}
		for i := range n {
			name := fmt.Sprintf("site%02d", i)
			if _, ok := reached[name]; ok {
				continue
			}
			info, err := c.Info(ctx, name, true)
			if err != nil {
				b.Fatal(err)
			}
			dt := info.Details
			if _, ok := uploaded[name]; !ok && dt.LastUpload != nil && dt.LastUpload.After(start) {
				uploaded[name] = dt.LastUpload.Sub(start).Seconds()
			}
			if dt.LastCheck != nil && dt.LastCheck.OK && dt.LastCheck.Time.After(start) {
				reached[name] = dt.LastCheck.Time.Add(dt.LastCheck.Duration).Sub(start).Seconds()
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, v := range uploaded {
		upload = append(upload, v)
	}
	for _, v := range reached {
		reach = append(reach, v)
	}
	return upload, reach
}

// percentile returns the p-th percentile (nearest rank) of xs.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

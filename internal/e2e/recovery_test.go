package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
	"tails-server/internal/torsup"
)

// BenchmarkRecovery kills the daemon's tors (SIGKILL) with n services
// enabled and measures, per service, when its descriptor was uploaded
// again and when its self-check passed again; it reports the slowest of
// each, so that the time for 50 can be set against the time for 1 from
// the same run, and the phases show where the time goes. It runs with the
// default number of onions per tor (several tors for 50) and with all 50
// on one tor, to show what the further tors buy (RECOVERY_ONIONS_PER_TOR=5,25
// runs other numbers of onions per tor instead).
func BenchmarkRecovery(b *testing.B) {
	if tnet == nil {
		b.Fatal("no private network: run `make bench`")
	}
	const n = 50
	cat := fiftyCatalog(b, n)
	pers := []int{torsup.DefaultOnionsPerTor, n}
	if v := os.Getenv("RECOVERY_ONIONS_PER_TOR"); v != "" {
		pers = nil
		for _, f := range strings.Split(v, ",") {
			per, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || per < 1 {
				b.Fatalf("RECOVERY_ONIONS_PER_TOR=%q: want numbers of onions per tor, like 5,25", v)
			}
			pers = append(pers, per)
		}
	}
	for _, per := range pers {
		b.Run(fmt.Sprintf("onions-per-tor=%d", per), func(b *testing.B) {
			var all1, all50 []float64
			for range b.N {
				for _, k := range []int{1, n} {
					d := benchDaemonWith(b, "--catalog", cat, "--onions-per-tor", fmt.Sprint(per))
					c := client.New(d.socket)
					enableAll(b, c, k)
					waitAllReachable(b, c, k)
					upload, reach := recoveryPhases(b, c, k)
					d.stop()
					b.Logf("%2d services: tors back %.1f s; descriptors uploaded p50 %.1f s max %.1f s; reachable p50 %.1f s max %.1f s",
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
		})
	}
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
	old := map[int]bool{}
	for _, t := range allTors(st) {
		old[t.PID] = true
	}
	start := time.Now()
	for pid := range old {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	since := func() float64 { return time.Since(start).Seconds() }
	for back := false; !back; time.Sleep(50 * time.Millisecond) {
		s, err := c.Daemon(ctx)
		if err != nil || len(s.MoreTors) != len(st.MoreTors) {
			continue
		}
		back = true
		for _, t := range allTors(s) {
			back = back && !old[t.PID] && t.State == "ready"
		}
	}
	b.Logf("%d services on %d tors", n, len(old))
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

// allTors lists the daemon's tors, the first one first.
func allTors(st apitype.Daemon) []apitype.Tor {
	return append([]apitype.Tor{st.Tor}, st.MoreTors...)
}

package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
)

// cpuSeconds is the CPU time (user and system) process pid has used.
func cpuSeconds(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces): state is
	// the 3rd field, utime the 14th, stime the 15th.
	i := strings.LastIndexByte(string(raw), ')')
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		b.Fatalf("malformed /proc/%d/stat", pid)
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // USER_HZ is 100 on Linux
}

// BenchmarkSelfCheckOverhead: n services (BENCH_SERVICES, default 50)
// enabled and reachable, then the daemon's CPU (share of one core) and
// RSS over a 3-minute window, with a 1-minute self-check interval (each
// check is recorded in the service's health record) against checks off
// (--check-interval 24h: the first check at enable, then none in the
// window). The checker tor's CPU is reported too: the checks' circuits
// are its work.
func BenchmarkSelfCheckOverhead(b *testing.B) {
	if tnet == nil {
		b.Fatal("no private network: run `make bench`")
	}
	n := 50
	if v, err := strconv.Atoi(os.Getenv("BENCH_SERVICES")); err == nil && v > 0 {
		n = v
	}
	const window = 3 * time.Minute
	cat := fiftyCatalog(b, n)
	type fig struct{ cpu, rss, checker float64 }
	got := map[string]fig{}
	for range b.N {
		for _, mode := range []struct{ name, interval string }{{"off", "24h"}, {"1m", "1m"}} {
			d, st := servicesSettled(b, n, cat, "--check-interval", mode.interval) // bench_metrics_test.go
			c := client.New(d.socket)
			pid := d.cmd.Process.Pid
			cpu0, chk0, t0 := cpuSeconds(b, pid), cpuSeconds(b, st.Checker.PID), time.Now()
			time.Sleep(window)
			el := time.Since(t0).Seconds()
			f := fig{cpu: 100 * (cpuSeconds(b, pid) - cpu0) / el, rss: float64(vmRSS(b, pid)) / 1024,
				checker: 100 * (cpuSeconds(b, st.Checker.PID) - chk0) / el}
			checks := 0
			for _, s := range mustList(b, c) {
				if s.Health != nil && len(s.Health.Uptime) > 0 {
					checks += s.Health.Uptime[0].Checks
				}
			}
			b.Logf("%d services, checks %s: daemon %.2f %% of a core, RSS %.1f MiB; checker tor %.2f %%; %d checks in the records' last hour",
				n, mode.name, f.cpu, f.rss, f.checker, checks)
			got[mode.name] = f
			d.stop()
		}
	}
	b.ReportMetric(got["off"].cpu, "cpu%-checks-off")
	b.ReportMetric(got["1m"].cpu, "cpu%-checks-1m")
	b.ReportMetric(got["off"].rss, "RSS-MiB-checks-off")
	b.ReportMetric(got["1m"].rss, "RSS-MiB-checks-1m")
	b.ReportMetric(got["1m"].checker-got["off"].checker, "cpu%-checker-tor-added")
}

func mustList(b *testing.B, c *client.Client) []apitype.Service {
	l, err := c.List(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return l
}

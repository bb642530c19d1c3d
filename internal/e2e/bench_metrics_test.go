package e2e

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
	"tails-server/internal/freeport"
)

// BenchmarkMetricsOverhead: n services (BENCH_SERVICES, default 50)
// enabled and reachable, self-checks every minute, then one daemon's CPU
// (share of one core) and RSS over a 3-minute window with nobody reading
// its metrics, and over the next 3 minutes with a Prometheus-like scraper
// fetching GET /metrics from --metrics-listen every 15 s (a common
// scrape_interval; Prometheus's default is 1 m). Its tors' CPU is
// reported too (each scrape reads every tor's MetricsPort), and the
// scrape's latency and size.
func BenchmarkMetricsOverhead(b *testing.B) {
	if tnet == nil {
		b.Fatal("no private network: run `make bench`")
	}
	n := envInt("BENCH_SERVICES", 50)
	const window, every = 3 * time.Minute, 15 * time.Second
	ports, err := freeport.Pick(1)
	if err != nil {
		b.Fatal(err)
	}
	url := "http://127.0.0.1:" + strconv.Itoa(ports[0]) + "/metrics"
	type fig struct{ cpu, rss, tors float64 }
	var off, on fig
	var lat []float64
	var size int
	for range b.N {
		d, st := servicesSettled(b, n, fiftyCatalog(b, n), "--check-interval", "1m",
			"--metrics-listen", "127.0.0.1:"+strconv.Itoa(ports[0]))
		torPIDs := []int{st.Tor.PID, st.Checker.PID}
		for _, t := range st.MoreTors {
			torPIDs = append(torPIDs, t.PID)
		}
		pid := d.cmd.Process.Pid
		measure := func(scrape bool) fig {
			cpu0, t0 := cpuSeconds(b, pid), time.Now()
			tors0 := 0.0
			for _, p := range torPIDs {
				tors0 += cpuSeconds(b, p)
			}
			for time.Since(t0) < window {
				if scrape {
					s := time.Now()
					resp, err := http.Get(url)
					if err != nil {
						b.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Fatalf("GET %s: %s", url, resp.Status)
					}
					lat = append(lat, float64(time.Since(s).Microseconds())/1000)
					size = len(body)
				}
				time.Sleep(every)
			}
			el := time.Since(t0).Seconds()
			tors := 0.0
			for _, p := range torPIDs {
				tors += cpuSeconds(b, p)
			}
			return fig{cpu: 100 * (cpuSeconds(b, pid) - cpu0) / el, rss: float64(vmRSS(b, pid)) / 1024,
				tors: 100 * (tors - tors0) / el}
		}
		off = measure(false)
		on = measure(true)
		b.Logf("%d services, checks every minute: unscraped daemon %.2f %% of a core, RSS %.1f MiB, its %d tors %.2f %%; scraped every %s: daemon %.2f %%, RSS %.1f MiB, tors %.2f %%; %d scrapes, median %.1f ms, %d bytes",
			n, off.cpu, off.rss, len(torPIDs), off.tors, every, on.cpu, on.rss, on.tors, len(lat), median(lat), size)
		d.stop()
	}
	b.ReportMetric(off.cpu, "cpu%-unscraped")
	b.ReportMetric(on.cpu, "cpu%-scraped-15s")
	b.ReportMetric(on.cpu-off.cpu, "cpu%-added")
	b.ReportMetric(off.rss, "RSS-MiB-unscraped")
	b.ReportMetric(on.rss, "RSS-MiB-scraped-15s")
	b.ReportMetric(on.tors-off.tors, "cpu%-tors-added")
	b.ReportMetric(median(lat), "ms/scrape")
	b.ReportMetric(float64(size), "bytes/scrape")
}

// servicesSettled starts a daemon with the catalog dir cat and the extra
// flags, enables its n services site00 ..., waits until all are
// reachable and the enable's work settled, and returns the daemon and its
// status (with a checker tor).
func servicesSettled(b *testing.B, n int, cat string, extra ...string) (*benchD, apitype.Daemon) {
	b.Helper()
	d := benchDaemonWith(b, append([]string{"--catalog", cat}, extra...)...)
	c := client.New(d.socket)
	enableAll(b, c, n)
	waitAllReachable(b, c, n)
	time.Sleep(20 * time.Second) // the enable's work settles
	st, err := c.Daemon(context.Background())
	if err != nil || st.Checker == nil {
		b.Fatalf("no checker tor: %v", err)
	}
	return d, st
}

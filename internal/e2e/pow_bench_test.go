package e2e

import (
	"context"
	"testing"
	"time"

	"tails-server/internal/client"
	"tails-server/internal/onionkey"
)

// BenchmarkPoWCost: what proof of work costs when nobody attacks. With
// pow on and off in turn, same run: a fresh daemon enables web (timed
// until enable returns, the daemon's own self-check having fetched it)
// and independent client tors fetch it (timed from the enable to their
// first page).
func BenchmarkPoWCost(b *testing.B) {
	if tnet == nil {
		b.Fatal("no private network: run `make bench`")
	}
	var enableOn, enableOff, fetchOn, fetchOff []float64
	for i := 0; i < b.N; i++ {
		for _, pow := range []string{"true", "false"} {
			e, f := powPublication(b, pow)
			if pow == "true" {
				enableOn, fetchOn = append(enableOn, e.Seconds()), append(fetchOn, f.Seconds())
			} else {
				enableOff, fetchOff = append(enableOff, e.Seconds()), append(fetchOff, f.Seconds())
			}
		}
	}
	b.ReportMetric(median(enableOn), "s-enable-pow-on")
	b.ReportMetric(median(enableOff), "s-enable-pow-off")
	b.ReportMetric(median(fetchOn), "s-first-fetch-pow-on")
	b.ReportMetric(median(fetchOff), "s-first-fetch-pow-off")
	b.ReportMetric(median(fetchOn)/median(fetchOff), "ratio-first-fetch-on/off")
}

func powPublication(b *testing.B, pow string) (enable, fetch time.Duration) {
	b.Helper()
	d := benchDaemon(b)
	defer d.stop()
	c := client.New(d.socket)
	ctx := context.Background()
	if _, err := c.SetOption(ctx, "web", "pow", pow); err != nil {
		b.Fatal(err)
	}
	cl, err := c.AddClient(ctx, "web", "bench")
	if err != nil {
		b.Fatal(err)
	}
	addr, key, err := onionkey.ParseAuthPrivateLine(cl.Credential)
	if err != nil {
		b.Fatal(err)
	}
	clients := independentClients(b, "pow-"+pow, addr, key)
	start := time.Now()
	enabled := make(chan time.Duration, 1)
	go func() {
		if _, err := c.Enable(ctx, "web", 2*time.Minute); err != nil {
			b.Error(err)
		}
		enabled <- time.Since(start)
	}()
	at := fetchUntil(b, clients, addr+".onion", 2*time.Minute)
	return <-enabled, at.Sub(start)
}

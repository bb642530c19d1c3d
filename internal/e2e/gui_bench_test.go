package e2e

import (
	"context"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"tails-server/internal/client"
)

var serverTiming = regexp.MustCompile(`page;dur=([0-9.]+)`)

// serverMillis reads the GUI's own time for a page (API calls and drawing)
// from its Server-Timing header.
func serverMillis(b *testing.B, resp *http.Response) float64 {
	m := serverTiming.FindStringSubmatch(resp.Header.Get("Server-Timing"))
	if m == nil {
		b.Fatalf("no Server-Timing in %v", resp.Header)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

var assetRef = regexp.MustCompile(`(?:href|src)="(/(?:static|icons)/[^"]+)"`)

// BenchmarkGUIServicesFifty: with 50 services described (third-party
// descriptions in a catalog dir, beside the built-in ones), the server time
// of the services page's first render and of the following ones (from the
// GUI's Server-Timing header: API call and drawing), the round trip a
// browser sees, and the page's weight with every asset it loads.
func BenchmarkGUIServicesFifty(b *testing.B) {
	if tnet == nil {
		b.Fatal("no private network: run `make bench`")
	}
	d := benchDaemonWith(b, "--catalog", fiftyCatalog(b, 50))
	l, err := client.New(d.socket).GUILogin(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	base := strings.TrimSuffix(l.URL, "/login")
	s := newHTTPSession(b, base, l.URL, l.Token)

	start := time.Now()
	resp, page := s.get(b, "/")
	firstRTT := float64(time.Since(start).Microseconds()) / 1000
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Site 49") {
		b.Fatalf("services page: %s", resp.Status)
	}
	first := serverMillis(b, resp)

	weight := len(page)
	seen := map[string]bool{}
	for _, m := range assetRef.FindAllStringSubmatch(page, -1) {
		if seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		resp, body := s.get(b, m[1])
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %s", m[1], resp.Status)
		}
		weight += len(body)
	}

	var server, rtt []float64
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		resp, _ := s.get(b, "/")
		rtt = append(rtt, float64(time.Since(start).Microseconds())/1000)
		server = append(server, serverMillis(b, resp))
	}
	b.StopTimer()
	median := func(v []float64) float64 {
		sort.Float64s(v)
		return v[len(v)/2]
	}
	b.ReportMetric(first, "first-server-ms")
	b.ReportMetric(firstRTT, "first-roundtrip-ms")
	b.ReportMetric(median(server), "server-ms")
	b.ReportMetric(median(rtt), "roundtrip-ms")
	b.ReportMetric(float64(weight)/1024, "page-KiB")
	b.ReportMetric(float64(len(seen)), "assets")
}

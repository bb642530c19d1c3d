package gui

import (
	"encoding/xml"
	"regexp"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
)

// TestHealthChart: the service page shows the 24-hour chart as inline SVG
// (well-formed, one slice per 30 minutes, the failed ones red), the
// uptime per window and the last failure, with no script.
func TestHealthChart(t *testing.T) {
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	h := &apitype.Health{LastFailures: []apitype.Check{{Time: start.Add(20 * time.Hour), Step: "connect", Error: "socks: <host> unreachable"}}}
	for _, w := range []string{"1h", "24h", "7d"} {
		p := 97.9
		h.Uptime = append(h.Uptime, apitype.Uptime{Window: w, Checks: 48, Failed: 1, Percent: &p})
	}
	for i := 0; i < 48; i++ {
		s := apitype.HealthSlice{Start: start.Add(time.Duration(i) * 30 * time.Minute), Checks: 6, Latency: time.Duration(i+1) * 100 * time.Millisecond}
		if i == 40 {
			s.Failed = 6
		}
		h.Chart = append(h.Chart, s)
	}
	h.Chart[0].Checks = 0
	f := &fakeAPI{daemon: apitype.Daemon{Network: "testnet", Tor: apitype.Tor{State: "ready", Bootstrap: 100}},
		services: map[string]apitype.Service{"web": {Name: "web", Title: "Web server", Installed: true, Enabled: true,
			State: apitype.StateReachable, OnionAddress: onion, Health: h}}}
	s, hc := serveFake(t, f)
	body := get(t, s, hc, "/services/web")
	svg := regexp.MustCompile(`(?s)<svg class="health-chart".*?</svg>`).FindString(body)
	if svg == "" {
		t.Fatalf("no health chart on the page:\n%s", body)
	}
	var doc struct {
		Rects []struct {
			Fill  string `xml:"fill,attr"`
			Title string `xml:"title"`
		} `xml:"rect"`
		Lines []struct{} `xml:"polyline"`
	}
	if err := xml.Unmarshal([]byte(svg), &doc); err != nil {
		t.Fatalf("the chart is not well-formed SVG: %v\n%s", err, svg)
	}
	if len(doc.Rects) != 48 || doc.Rects[40].Fill != "#c0392b" || doc.Rects[0].Fill != "#d8d8d8" || doc.Rects[1].Fill != "#2e9d4f" {
		t.Fatalf("slices: %d, colours %+v", len(doc.Rects), doc.Rects)
	}
	if doc.Rects[40].Title != "08:00 UTC: 6 of 6 checks failed" {
		t.Errorf("slice title %q", doc.Rects[40].Title)
	}
	if len(doc.Lines) != 2 {
		t.Errorf("latency lines: %d, want 2 (cut at the failed slice)", len(doc.Lines))
	}
	got := text(body)
	for _, want := range []string{"Last 1h 97.9 % of 48 checks", "Last 7d 97.9 %", "2026-12-02 08:00:00 UTC connect: socks: <host> unreachable"} {
		if !strings.Contains(got, want) {
			t.Errorf("the page does not say %q:\n%s", want, got)
		}
	}
	if strings.Contains(svg, "<script") || strings.Contains(svg, "style=") {
		t.Errorf("the chart needs a script or inline style: %s", svg)
	}
}

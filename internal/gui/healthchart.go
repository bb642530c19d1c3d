package gui

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"tails-server/internal/apitype"
)

// Chart geometry, in SVG user units.
const (
	chartW     = 480 // plot width
	chartLeft  = 40  // room for the latency axis labels
	bandY      = 4   // the reachability band
	bandH      = 14
	latTop     = 30 // the latency plot
	latH       = 70
	chartTotal = latTop + latH + 18
)

// healthSVG draws the last 24 h of a service's self-checks as an inline
// SVG, rendered on the server (no script): a band of slices, green when
// every check passed, red when one failed (darker the more failed), grey
// when none ran; below it the mean latency of the passed checks. Only
// numbers and times the daemon computed go into it.
func healthSVG(h *apitype.Health) template.HTML {
	if h == nil || len(h.Chart) == 0 {
		return ""
	}
	n := len(h.Chart)
	w := float64(chartW) / float64(n)
	maxLat := time.Second
	checks, failed := 0, 0
	for _, s := range h.Chart {
		maxLat = max(maxLat, s.Latency)
		checks += s.Checks
		failed += s.Failed
	}
	// Round the scale up to whole seconds.
	maxLat = (maxLat + time.Second - 1).Truncate(time.Second)
	label := fmt.Sprintf("Self-checks over the last 24 hours: %d, %d failed; mean latency up to %s", checks, failed, maxLat)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="health-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		chartLeft+chartW+4, chartTotal, chartLeft+chartW+4, chartTotal, template.HTMLEscapeString(label))
	fmt.Fprintf(&b, `<text x="0" y="%d" font-size="10" fill="#555">reach</text>`, bandY+bandH-3)
	var pts []string
	for i, s := range h.Chart {
		x := float64(chartLeft) + float64(i)*w
		fill, what := "#d8d8d8", "no check"
		switch {
		case s.Checks > 0 && s.Failed == 0:
			fill, what = "#2e9d4f", fmt.Sprintf("%d checks passed, mean %s", s.Checks, s.Latency.Round(time.Millisecond))
		case s.Failed > 0:
			fill = "#e8a0a0"
			if s.Failed*2 >= s.Checks {
				fill = "#c0392b"
			}
			what = fmt.Sprintf("%d of %d checks failed", s.Failed, s.Checks)
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: %s</title></rect>`,
			x, bandY, w-0.5, bandH, fill, s.Start.UTC().Format("15:04 UTC"), template.HTMLEscapeString(what))
		if s.Checks > s.Failed {
			y := float64(latTop+latH) - float64(latH)*float64(s.Latency)/float64(maxLat)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x+w/2, y))
		} else if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#2c5fa8" stroke-width="1.5"/>`, strings.Join(pts, " "))
			pts = nil
		}
	}
	if len(pts) > 0 {
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#2c5fa8" stroke-width="1.5"/>`, strings.Join(pts, " "))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, chartLeft, latTop+latH, chartLeft+chartW, latTop+latH)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, chartLeft, latTop, chartLeft, latTop+latH)
	fmt.Fprintf(&b, `<text x="0" y="%d" font-size="10" fill="#555">%s</text>`, latTop+8, maxLat)
	fmt.Fprintf(&b, `<text x="0" y="%d" font-size="10" fill="#555">0 s</text>`, latTop+latH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" fill="#555">24 h ago</text>`, chartLeft, chartTotal-3)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" fill="#555" text-anchor="end">now</text>`, chartLeft+chartW, chartTotal-3)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// uptimeText says an uptime window for the page: "99.2 % of 120 checks".
func uptimeText(u apitype.Uptime) string {
	if u.Percent == nil {
		return "no check yet"
	}
	return fmt.Sprintf("%.1f %% of %d checks", *u.Percent, u.Checks)
}

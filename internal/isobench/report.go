package isobench

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the results as an aligned text table.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tpolicy\tisolation groups\tcircuits built\trelay load (hops)\tstreams\tTTLB median (ms)\truns\t")
	for _, x := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%.0f\t%d%s\t\n", x.Workload, x.Policy, x.Expected,
			num(x.Circuits), num(x.Hops), num(x.Streams), x.TTLBms, x.Runs, failedNote(x.Failed))
	}
	return tw.Flush()
}

// Markdown returns the results as a Markdown table.
func (r *Report) Markdown() string {
	var b strings.Builder
	b.WriteString("| workload | policy | isolation groups | circuits built | relay load (hops) | streams | TTLB median (ms) | runs |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, x := range r.Results {
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %.0f | %d%s |\n", x.Workload, x.Policy, x.Expected,
			num(x.Circuits), num(x.Hops), num(x.Streams), x.TTLBms, x.Runs, failedNote(x.Failed))
	}
	return b.String()
}

func num(f float64) string {
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprintf("%.1f", f)
}

func failedNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d failed)", n)
}

// WriteFiles writes results.json, table.md and chart.svg to dir (created
// if needed), each atomically.
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("isobench: %w", err)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		"results.json": append(js, '\n'),
		"table.md":     []byte(r.Markdown()),
		"chart.svg":    []byte(r.SVG()),
	} {
		if err := writeAtomic(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("isobench: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("isobench: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("isobench: writing %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// policyColors are the bar colours, one per policy in Policies order.
var policyColors = []string{"#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#76b7b2", "#b07aa1"}

// SVG draws two grouped bar charts, circuits built and time to last
// byte, one group per workload and one bar per policy.
func (r *Report) SVG() string {
	var workloads, policies []string
	seenW, seenP := map[string]bool{}, map[string]bool{}
	for _, x := range r.Results {
		if !seenW[x.Workload] {
			seenW[x.Workload] = true
			workloads = append(workloads, x.Workload)
		}
		if !seenP[x.Policy] {
			seenP[x.Policy] = true
			policies = append(policies, x.Policy)
		}
	}
	get := func(w, p string) *Result {
		for i := range r.Results {
			if r.Results[i].Workload == w && r.Results[i].Policy == p {
				return &r.Results[i]
			}
		}
		return nil
	}
	const (
		width, panelH, top, left, gap = 860, 260, 40, 60, 30
	)
	var b strings.Builder
	height := top + 2*(panelH+gap+40) + 30
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">Stream isolation on the private Tor network (median of %d runs)</text>`+"\n", left, r.Runs)
	panel := func(y0 int, title string, val func(*Result) float64, unit string) {
		maxV := 0.0
		for _, x := range r.Results {
			maxV = max(maxV, val(&x))
		}
		if maxV == 0 {
			maxV = 1
		}
		plotW := width - left - 20
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", left, y0-8, html.EscapeString(title))
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, y0+panelH, left+plotW, y0+panelH)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, y0, left, y0+panelH)
		for i := 0; i <= 4; i++ {
			v := maxV * float64(i) / 4
			y := y0 + panelH - int(float64(panelH)*float64(i)/4)
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-4, y+4, num(float64(int64(v*10+0.5))/10))
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#ddd"/>`+"\n", left+1, y, left+plotW, y)
		}
		groupW := plotW / max(1, len(workloads))
		barW := (groupW - 16) / max(1, len(policies))
		for wi, w := range workloads {
			gx := left + wi*groupW + 8
			for pi, p := range policies {
				x := get(w, p)
				if x == nil {
					continue
				}
				v := val(x)
				h := int(float64(panelH) * v / maxV)
				fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s, %s: %s %s</title></rect>`+"\n",
					gx+pi*barW, y0+panelH-h, barW-2, h, policyColors[pi%len(policyColors)], html.EscapeString(w), html.EscapeString(p), num(v), unit)
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", gx+groupW/2-8, y0+panelH+16, html.EscapeString(w))
		}
	}
	panel(top+20, "General-purpose circuits built per workload (conflux legs included)", func(x *Result) float64 { return x.Circuits }, "circuits")
	panel(top+20+panelH+gap+40, "Time to last byte (ms)", func(x *Result) float64 { return x.TTLBms }, "ms")
	ly := height - 14
	for pi, p := range policies {
		x := left + pi*180
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", x, ly-10, policyColors[pi%len(policyColors)], x+16, ly, html.EscapeString(p))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

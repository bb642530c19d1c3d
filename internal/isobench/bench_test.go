package isobench

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestExpectedGroups(t *testing.T) {
	want := map[string][]int{ // per workload: none, dest-addr, dest-addr+port, site-auth
		"page-1":  {1, 1, 1, 1},
		"page-5":  {1, 5, 5, 3},
		"page-12": {1, 12, 12, 6},
		"page-30": {1, 30, 30, 15},
		"chat":    {1, 3, 4, 3},
	}
	for _, w := range Workloads {
		for i, p := range Policies {
			if got := expected(p, w); got != want[w.Name][i] {
				t.Errorf("%s under %s: %d isolation groups, want %d", w.Name, p.Name, got, want[w.Name][i])
			}
		}
	}
}

func TestTorNamesAreValid(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`) // testnet.StartTor's rule
	for _, p := range Policies {
		if n := torName(p); !valid.MatchString(n) {
			t.Errorf("policy %s: tor name %q", p.Name, n)
		}
	}
}

func TestUnknownNames(t *testing.T) {
	_, err := Run(t.Context(), Options{Env: nil})
	if err == nil {
		t.Fatal("Run without a network succeeded")
	}
	_, err = pick(Policies, []string{"none", "IsolateEverything"}, func(p Policy) string { return p.Name })
	var ue *UnknownNameError
	if !errors.As(err, &ue) || ue.Name != "IsolateEverything" || !strings.Contains(err.Error(), "dest-addr+port") {
		t.Errorf("unknown policy: %v", err)
	}
}

func TestReportFiles(t *testing.T) {
	r := &Report{Runs: 3}
	for _, w := range Workloads {
		for i, p := range Policies {
			r.Results = append(r.Results, Result{Policy: p.Name, Workload: w.Name, Runs: 3,
				Circuits: float64(i * w.Hosts), Hops: float64(3 * i * w.Hosts), Streams: float64(w.Hosts), TTLBms: 100 + float64(i), Expected: expected(p, w)})
		}
	}
	r.Results[0].Failed = 1
	dir := filepath.Join(t.TempDir(), "out")
	if err := r.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "chart.svg"))
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(string(svg)))
	rects := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart.svg is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	// background, 2 panels × 20 bars, 4 legend swatches
	if rects != 1+2*len(Workloads)*len(Policies)+len(Policies) {
		t.Errorf("chart.svg has %d rects", rects)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "table.md"))
	if lines := strings.Count(string(md), "\n"); lines != 2+len(r.Results) {
		t.Errorf("table.md has %d lines", lines)
	}
	if !strings.Contains(string(md), "| page-30 | dest-addr+port | 30 | 60 | 180 | 30 | 102 | 3 |") ||
		!strings.Contains(string(md), "(1 failed)") {
		t.Errorf("table.md:\n%s", md)
	}
	if _, err := os.Stat(filepath.Join(dir, "results.json")); err != nil {
		t.Error(err)
	}
}

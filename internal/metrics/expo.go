// Package metrics gathers the daemon's measurements and writes them in
// the Prometheus text exposition format (version 0.0.4): the daemon's own
// counters and histograms (Daemon), and the onion-service metrics of its
// tors, read from their MetricsPort (ParseTor), relabelled by service name
// (Relabel).
//
// It writes the format itself rather than using
// github.com/prometheus/client_golang: the daemon exposes a few dozen
// series, gathered on request, and the format is a handful of line rules;
// client_golang would bring a registry, protobuf and a dozen modules into
// a root daemon for no gain. Tests check the output with
// github.com/prometheus/common/expfmt, the parser Prometheus itself uses.
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Metric types.
const (
	Counter   = "counter"
	Gauge     = "gauge"
	Histogram = "histogram"
	Untyped   = "untyped"
)

// Label is one name="value" pair.
type Label struct{ Name, Value string }

// Sample is one series' value. Suffix is appended to the family name
// ("_bucket", "_sum", "_count" of a histogram; "" otherwise).
type Sample struct {
	Suffix string
	Labels []Label
	Value  float64
}

// Family is one metric: its name, help text, type and samples.
type Family struct {
	Name    string
	Help    string
	Type    string
	Samples []Sample
}

// Write writes fams in the text format, each family once (families of the
// same name are merged, the first one's help and type kept), sorted by
// name. A bad metric or label name is an error, and nothing is written.
func Write(w io.Writer, fams []Family) error {
	merged := Merge(fams)
	for _, f := range merged {
		if !validName(f.Name, true) {
			return fmt.Errorf("metrics: invalid metric name %q", f.Name)
		}
		for _, s := range f.Samples {
			if !validName(f.Name+s.Suffix, true) {
				return fmt.Errorf("metrics: invalid metric name %q", f.Name+s.Suffix)
			}
			for _, l := range s.Labels {
				if !validName(l.Name, false) {
					return fmt.Errorf("metrics: invalid label name %q in %s", l.Name, f.Name)
				}
			}
		}
	}
	bw := bufio.NewWriter(w)
	for _, f := range merged {
		if f.Help != "" {
			fmt.Fprintf(bw, "# HELP %s %s\n", f.Name, escapeHelp(f.Help))
		}
		typ := f.Type
		if typ == "" {
			typ = Untyped
		}
		fmt.Fprintf(bw, "# TYPE %s %s\n", f.Name, typ)
		for _, s := range f.Samples {
			bw.WriteString(f.Name + s.Suffix)
			if len(s.Labels) > 0 {
				bw.WriteByte('{')
				for i, l := range s.Labels {
					if i > 0 {
						bw.WriteByte(',')
					}
					bw.WriteString(l.Name + `="` + escapeValue(l.Value) + `"`)
				}
				bw.WriteByte('}')
			}
			bw.WriteByte(' ')
			bw.WriteString(formatValue(s.Value))
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

// Merge joins the families of the same name (samples in order, the first
// help and type kept) and sorts them by name.
func Merge(fams []Family) []Family {
	idx := map[string]int{}
	var out []Family
	for _, f := range fams {
		if i, ok := idx[f.Name]; ok {
			out[i].Samples = append(out[i].Samples, f.Samples...)
			continue
		}
		idx[f.Name] = len(out)
		f.Samples = append([]Sample(nil), f.Samples...)
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
var valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeValue(s string) string { return valueEscaper.Replace(s) }

// validName says whether s is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)
// or, with colon false, a label name ([a-zA-Z_][a-zA-Z0-9_]*).
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') ||
			(colon && r == ':') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// ContentType is the Content-Type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

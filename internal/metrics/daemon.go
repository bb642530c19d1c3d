package metrics

import (
	"math"
	"sort"
	"sync"
	"time"
)

// CheckBuckets are the upper bounds, in seconds, of the self-check latency
// histogram: a check through tor takes from a second (a warm circuit) to
// the minute of its timeout.
var CheckBuckets = []float64{0.5, 1, 2, 5, 10, 20, 30, 60}

// Daemon counts what the daemon does, by service. Its methods may be
// called on a nil *Daemon (they do nothing), so that a component without
// metrics needs no check. It is safe for concurrent use.
type Daemon struct {
	mu       sync.Mutex
	checks   map[string]*histogram
	failures map[string]uint64
	pubs     map[[2]string]uint64 // service, result
	uploads  map[[2]string]uint64 // service, result
}

type histogram struct {
	counts []uint64 // per bucket of CheckBuckets, not cumulative; then +Inf
	sum    float64
	n      uint64
}

// NewDaemon returns an empty Daemon.
func NewDaemon() *Daemon {
	return &Daemon{checks: map[string]*histogram{}, failures: map[string]uint64{},
		pubs: map[[2]string]uint64{}, uploads: map[[2]string]uint64{}}
}

// Check records a self-check of service: whether it passed and how long
// it took.
func (d *Daemon) Check(service string, ok bool, took time.Duration) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.checks[service]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(CheckBuckets)+1)}
		d.checks[service] = h
	}
	sec := took.Seconds()
	i := sort.SearchFloat64s(CheckBuckets, sec)
	h.counts[i]++
	h.sum += sec
	h.n++
	if !ok {
		d.failures[service]++
	} else if _, seen := d.failures[service]; !seen {
		d.failures[service] = 0
	}
}

// Publication records an ADD_ONION of service, ok or failed.
func (d *Daemon) Publication(service string, ok bool) {
	if d == nil {
		return
	}
	d.mu.Lock()
	d.pubs[[2]string{service, result(ok)}]++
	d.mu.Unlock()
}

// DescriptorUpload records the end of one descriptor upload of service to
// one directory (tor's HS_DESC UPLOADED or FAILED).
func (d *Daemon) DescriptorUpload(service string, ok bool) {
	if d == nil {
		return
	}
	d.mu.Lock()
	d.uploads[[2]string{service, result(ok)}]++
	d.mu.Unlock()
}

func result(ok bool) string {
	if ok {
		return "ok"
	}
	return "failed"
}

// Families returns the counted metrics.
func (d *Daemon) Families() []Family {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	hist := Family{Name: "tails_server_selfcheck_duration_seconds", Type: Histogram,
		Help: "Time a self-check of a service took, through the checker tor."}
	for _, svc := range sortedKeys(d.checks) {
		h := d.checks[svc]
		var cum uint64
		for i, c := range h.counts {
			cum += c
			le := math.Inf(1)
			if i < len(CheckBuckets) {
				le = CheckBuckets[i]
			}
			hist.Samples = append(hist.Samples, Sample{Suffix: "_bucket", Value: float64(cum),
				Labels: []Label{{"service", svc}, {"le", formatValue(le)}}})
		}
		hist.Samples = append(hist.Samples,
			Sample{Suffix: "_sum", Labels: []Label{{"service", svc}}, Value: h.sum},
			Sample{Suffix: "_count", Labels: []Label{{"service", svc}}, Value: float64(h.n)})
	}
	fail := Family{Name: "tails_server_selfcheck_failures_total", Type: Counter,
		Help: "Self-checks of a service that failed."}
	for _, svc := range sortedKeys(d.failures) {
		fail.Samples = append(fail.Samples, Sample{Labels: []Label{{"service", svc}}, Value: float64(d.failures[svc])})
	}
	pubs := Family{Name: "tails_server_publications_total", Type: Counter,
		Help: "Onion publications (ADD_ONION) of a service, by result."}
	pubs.Samples = pairSamples(d.pubs)
	ups := Family{Name: "tails_server_descriptor_uploads_total", Type: Counter,
		Help: "Descriptor uploads of a service to one directory, by result."}
	ups.Samples = pairSamples(d.uploads)
	return []Family{hist, fail, pubs, ups}
}

func pairSamples(m map[[2]string]uint64) []Sample {
	keys := make([][2]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	out := make([]Sample, 0, len(keys))
	for _, k := range keys {
		out = append(out, Sample{Labels: []Label{{"service", k[0]}, {"result", k[1]}}, Value: float64(m[k])})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

package health

import "time"

// Uptime is the share of passed checks over a window.
type Uptime struct {
	Window time.Duration
	Checks int
	Failed int
}

// Percent is the passed checks' share, 0–100; -1 when no check ran.
func (u Uptime) Percent() float64 {
	if u.Checks == 0 {
		return -1
	}
	return 100 * float64(u.Checks-u.Failed) / float64(u.Checks)
}

// Uptimes returns the uptime over each window ending at now.
func (r *Record) Uptimes(now time.Time, windows ...time.Duration) []Uptime {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.load(now)
	out := make([]Uptime, len(windows))
	for i, w := range windows {
		out[i].Window = w
		from := now.Add(-w).Unix()
		for k := len(r.entries) - 1; k >= 0 && int64(r.entries[k].unix) >= from; k-- {
			out[i].Checks++
			if !r.entries[k].ok {
				out[i].Failed++
			}
		}
	}
	return out
}

// Failures returns the last failures (at most MaxFailures), newest first.
func (r *Record) Failures(now time.Time) []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.load(now)
	out := make([]Entry, 0, len(r.failures))
	for i := len(r.failures) - 1; i >= 0; i-- {
		out = append(out, r.failures[i])
	}
	return out
}

// Bucket sums up the checks of one slice of time.
type Bucket struct {
	Start  time.Time
	Checks int
	Failed int
	// Latency is the mean latency of the passed checks (0 when none).
	Latency time.Duration
}

// Chart cuts the span ending at now into n buckets, oldest first.
func (r *Record) Chart(now time.Time, span time.Duration, n int) []Bucket {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.load(now)
	if n <= 0 || span <= 0 {
		return nil
	}
	out := make([]Bucket, n)
	step := span / time.Duration(n)
	start := now.Add(-span)
	for i := range out {
		out[i].Start = start.Add(time.Duration(i) * step).UTC()
	}
	sums := make([]time.Duration, n)
	for k := len(r.entries) - 1; k >= 0; k-- {
		t := time.Unix(int64(r.entries[k].unix), 0)
		if t.Before(start) {
			break
		}
		i := min(int(t.Sub(start)/step), n-1)
		out[i].Checks++
		if r.entries[k].ok {
			sums[i] += time.Duration(r.entries[k].ms) * time.Millisecond
		} else {
			out[i].Failed++
		}
	}
	for i := range out {
		if ok := out[i].Checks - out[i].Failed; ok > 0 {
			out[i].Latency = sums[i] / time.Duration(ok)
		}
	}
	return out
}

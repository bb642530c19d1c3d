package services

import (
	"path/filepath"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/health"
)

// healthWindows are the windows status shows the uptime over.
var healthWindows = []struct {
	name string
	d    time.Duration
}{{"1h", time.Hour}, {"24h", 24 * time.Hour}, {"7d", health.Keep}}

// chartSlices is how many slices the 24-hour chart has (30 minutes each).
const chartSlices = 48

// newHealth returns the record of s's self-checks, in the service's root
// (ServiceDir, which persistence moves whole): it follows the root when
// the service moves.
func (m *Manager) newHealth(name string) *health.Record {
	return health.New(func() string { return filepath.Join(m.store.ServiceDir(name), health.FileName) },
		func(msg string) { m.log.Warn(msg, "service", name) })
}

// recordCheck keeps res in s's health record; a record that cannot be
// written is warned about (by the record), never fatal.
func (m *Manager) recordCheck(s *service, res apitype.Check) {
	_ = s.health.Append(health.Entry{Time: res.Time, OK: res.OK, Latency: res.Duration, Step: res.Step, Error: res.Error}, m.clock.Now())
}

// healthOut sums up s's record; the chart only when asked.
func (m *Manager) healthOut(s *service, chart bool) *apitype.Health {
	now := m.clock.Now()
	ds := make([]time.Duration, len(healthWindows))
	for i, w := range healthWindows {
		ds[i] = w.d
	}
	out := &apitype.Health{}
	for i, u := range s.health.Uptimes(now, ds...) {
		au := apitype.Uptime{Window: healthWindows[i].name, Checks: u.Checks, Failed: u.Failed}
		if p := u.Percent(); p >= 0 {
			p = float64(int(p*10+0.5)) / 10
			au.Percent = &p
		}
		out.Uptime = append(out.Uptime, au)
	}
	for _, f := range s.health.Failures(now) {
		out.LastFailures = append(out.LastFailures, apitype.Check{Time: f.Time, Duration: f.Latency, Step: f.Step, Error: f.Error})
	}
	if chart {
		for _, b := range s.health.Chart(now, 24*time.Hour, chartSlices) {
			out.Chart = append(out.Chart, apitype.HealthSlice{Start: b.Start, Checks: b.Checks, Failed: b.Failed, Latency: b.Latency})
		}
	}
	return out
}

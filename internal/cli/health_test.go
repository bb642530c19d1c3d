package cli

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"tails-server/internal/apitype"
)

// TestStatusShowsHealth: status carries the uptime windows and the last
// failures of the health record, in YAML as in JSON.
func TestStatusShowsHealth(t *testing.T) {
	p := 75.0
	at := time.Date(2026, 12, 2, 17, 0, 0, 0, time.UTC)
	h := &apitype.Health{Uptime: []apitype.Uptime{{Window: "1h", Checks: 4, Failed: 1, Percent: &p}, {Window: "24h"}},
		LastFailures: []apitype.Check{{Time: at, Duration: time.Minute, Step: "connect", Error: "socks: host unreachable"}},
		Chart:        []apitype.HealthSlice{{Start: at}}}
	b, err := yaml.Marshal(toStatusAt(apitype.Service{Name: "web", State: apitype.StateFailing, Health: h}, at))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"uptime:\n    - window: 1h\n      checks: 4\n      failed: 1\n      percent: 75\n", "    - window: 24h\n      checks: 0\n      failed: 0\n",
		"last_failures:\n", "step: connect", "error: 'socks: host unreachable'"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("status lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "chart") {
		t.Errorf("status shows the GUI's chart:\n%s", b)
	}
}

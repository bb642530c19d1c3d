package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPoWQueueBurstBelowRate: a pow-queue-burst below pow-queue-rate
// (which tor 0.4.9's ADD_ONION takes and then runs without any rate
// limit) is refused by set-option in one line naming both options and
// the fix, and neither value changes; raising the burst first works.
func TestPoWQueueBurstBelowRate(t *testing.T) {
	requireNet(t)
	tmp := t.TempDir()
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))
	values := func() string {
		return d.mustCLI("get-option", "web", "pow-queue-rate") + d.mustCLI("get-option", "web", "pow-queue-burst")
	}
	before := values()
	for _, tc := range []struct{ option, value, want string }{
		{"pow-queue-rate", "3000", "pow-queue-burst 2500 is below pow-queue-rate 3000 (tor would then not limit the rate at all): set pow-queue-burst 3000 or more first, or pow-queue-rate 2500 or less"},
		{"pow-queue-burst", "100", "pow-queue-burst 100 is below pow-queue-rate 250 (tor would then not limit the rate at all): set pow-queue-burst 250 or more, or pow-queue-rate 100 or less first"},
	} {
		out, stderr, code := d.cli("set-option", "web", tc.option, tc.value)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code == 0 || len(lines) != 1 || lines[0] != "tails-server: error: "+tc.want {
			t.Errorf("set-option web %s %s: exit %d\n%s%s", tc.option, tc.value, code, out, stderr)
		}
	}
	if after := values(); after != before {
		t.Errorf("a refused value changed web:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	d.mustCLI("set-option", "web", "pow-queue-burst", "3000")
	d.mustCLI("set-option", "web", "pow-queue-rate", "3000")
	d.mustCLI("set-option", "web", "pow-queue-rate", "0")
	d.mustCLI("set-option", "web", "pow-queue-burst", "1")
	if out := d.mustCLI("get-option", "web", "pow-queue-burst"); !strings.Contains(out, `value: "1"`) && !strings.Contains(out, "value: 1\n") {
		t.Errorf("pow-queue-burst 1 with rate 0 (no limit):\n%s", out)
	}
}

package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A metrics address beyond loopback without --metrics-allow-remote, or
// --metrics-allow-remote alone, is a usage error in one line; the state
// dir is not created.
func TestDaemonMetricsFlags(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--metrics-listen", "0.0.0.0:9100"}, "is not a loopback address"},
		{[]string{"--metrics-listen", ":9100"}, "is not a loopback address"},
		{[]string{"--metrics-listen", "10.1.2.3:9100"}, "--metrics-allow-remote"},
		{[]string{"--metrics-listen", "127.0.0.1"}, "is not HOST:PORT"},
		{[]string{"--metrics-allow-remote"}, "needs --metrics-listen"},
	} {
		args := append([]string{"daemon", "--state", state, "--network", "testnet"}, c.args...)
		var out, errb bytes.Buffer
		code := Main(context.Background(), args, &out, &errb)
		first, _, _ := strings.Cut(errb.String(), "\n")
		if code != ExitUsage || !strings.HasPrefix(first, "tails-server: error: --metrics-") || !strings.Contains(first, c.want) {
			t.Errorf("%q: exit %d, stderr %q", c.args, code, errb.String())
		}
		if _, err := os.Stat(state); err == nil {
			t.Fatalf("%q: the state dir was created", c.args)
		}
	}
}

func TestMetricsTakesNoArguments(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"metrics", "web"}, &out, &errb); code != ExitUsage {
		t.Errorf("metrics web: exit %d, stderr %q", code, errb.String())
	}
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"tails-server/internal/apitype"
	"tails-server/internal/isolation"
)

// appsOutput is what `isolation apps -o json` prints.
type appsOutput struct {
	Source  string                  `json:"source"`
	Offset  int                     `json:"offset"`
	InTorrc bool                    `json:"in_torrc"`
	Apps    []apitype.IsolationApp  `json:"apps"`
	Ports   []apitype.IsolationPort `json:"ports"`
}

func runApps(t *testing.T, args ...string) (appsOutput, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), append([]string{"isolation", "apps", "-o", "json"}, args...), &out, &errb)
	var o appsOutput
	if code == 0 {
		if err := json.Unmarshal(out.Bytes(), &o); err != nil {
			t.Fatalf("isolation apps %q: %v\n%s", args, err, out.String())
		}
	}
	return o, errb.String(), code
}

// wantAddrs checks that every app of o listens where the built-in policy
// at offset puts it.
func wantAddrs(t *testing.T, what string, o appsOutput, offset int) {
	t.Helper()
	p := isolation.Default()
	if o.Offset != offset || len(o.Apps) != len(p.AppNames()) {
		t.Fatalf("%s: offset %d and %d apps, want %d and %d", what, o.Offset, len(o.Apps), offset, len(p.AppNames()))
	}
	for _, a := range o.Apps {
		want, err := p.SocksAddr(a.Name, offset)
		if err != nil || a.Addr != want {
			t.Errorf("%s: app %s at %s, want %s (%v)", what, a.Name, a.Addr, want, err)
		}
	}
}

// With a daemon on the socket, `isolation apps` shows the daemon's policy
// at the daemon's port offset (what its tor opened), not the local one.
func TestIsolationAppsAsksTheDaemon(t *testing.T) {
	const offset = 30000
	d := isolation.Default().Describe(offset)
	d.InTorrc, d.Checked = true, true
	sock := fakeAPI(t, map[string]any{"/isolation/policy": d})
	o, stderr, code := runApps(t, "--socket", sock)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	wantAddrs(t, "with a daemon at offset 30000", o, offset)
	if !o.InTorrc {
		t.Errorf("the daemon's in_torrc is not shown")
	}
	// --local (or --policy, --port-offset) reads the local policy only.
	for _, args := range [][]string{{"--local"}, {"--port-offset", "0"}} {
		o, stderr, code = runApps(t, append([]string{"--socket", sock}, args...)...)
		if code != 0 || stderr != "" {
			t.Fatalf("%q: exit %d, stderr %q", args, code, stderr)
		}
		wantAddrs(t, strings.Join(args, " "), o, 0)
	}
}

// Without a daemon, `isolation apps` falls back to the local policy and
// says so in one line.
func TestIsolationAppsWithoutDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	o, stderr, code := runApps(t, "--socket", sock)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	wantAddrs(t, "without a daemon", o, 0)
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, sock) || !strings.Contains(stderr, "local policy") {
		t.Errorf("stderr %q: want one line naming the socket and the fallback", stderr)
	}
}

// The listing never points at an override it does not show: an app whose
// description speaks of an override has one.
func TestIsolationAppsNoDanglingOverride(t *testing.T) {
	o, stderr, code := runApps(t, "--socket", filepath.Join(t.TempDir(), "none.sock"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, a := range o.Apps {
		if strings.Contains(a.Description, "override") && a.Override == "" {
			t.Errorf("app %s: description %q speaks of an override, and it has none", a.Name, a.Description)
		}
	}
}

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"tails-server/internal/apitype"
	"tails-server/internal/testenv"
)

// TestCLISaysWhatHappened: a healthy irc logs no complaint at start-up,
// enable says what is installed already instead of claiming to install
// it, set-option says when a value shows nowhere, and remove says what it
// wiped.
func TestCLISaysWhatHappened(t *testing.T) {
	requireNet(t)
	testenv.RequireProgram(t, "ngircd")
	testenv.RequireProgram(t, "dpkg-query")
	tmp := backendTempDir(t)
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))

	// ngircd is installed (dpkg says so): enable says so.
	if st, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "ngircd").Output(); err != nil || string(st) != "install ok installed" {
		t.Fatalf("ngircd not installed according to dpkg: %q %v", st, err)
	}
	out, stderr, code := d.cli("enable", "irc", "--wait", "240s")
	if code != 0 || !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable irc: exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "irc: ngircd already installed") || strings.Contains(stderr, "installing ngircd") {
		t.Errorf("enable irc progress, with ngircd installed:\n%s", stderr)
	}
	// Its progress is words, not state names.
	for _, raw := range []string{"irc: " + apitype.StateAddressed + "\n", "irc: " + apitype.StatePublished + "\n"} {
		if strings.Contains(stderr, raw) {
			t.Errorf("enable irc progress shows the raw step %q:\n%s", strings.TrimSpace(raw), stderr)
		}
	}

	// A healthy ngIRCd's start-up log has no complaint.
	logs := d.mustCLI("logs", "irc")
	if !strings.Contains(logs, "ready.") {
		t.Fatalf("logs irc has no start-up lines:\n%s", logs)
	}
	for _, bad := range []string{"Can't open include directory", "Operation not permitted", "ServerUID must not be root"} {
		if strings.Contains(logs, bad) {
			t.Errorf("logs irc has %q:\n%s", bad, logs)
		}
	}

	// web title with an index.html in the folder: accepted, and says it
	// shows nowhere.
	d.mustCLI("enable", "web", "--wait", "150s")
	index := filepath.Join(d.service("web").Details.DataDir, "data", "www", "index.html")
	if err := os.WriteFile(index, []byte("<h1>our own page</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = d.cli("set-option", "web", "title", "Our news")
	if code != 0 || !strings.Contains(out, "value: Our news") {
		t.Fatalf("set-option web title: exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "tails-server: warning: the title shows only on the welcome page") || !strings.Contains(stderr, index) {
		t.Errorf("set-option web title with an index.html says nothing of it: %q", stderr)
	}
	if b, _ := os.ReadFile(index); string(b) != "<h1>our own page</h1>\n" {
		t.Errorf("index.html changed: %q", b)
	}

	// remove says what it wiped.
	d.mustCLI("client", "add", "irc", "ann")
	d.mustCLI("client", "add", "irc", "bob")
	sv := d.service("irc")
	out = d.mustCLI("remove", "irc", "--yes")
	var got struct {
		Removed apitype.RemoveResult `yaml:"removed"`
	}
	if err := yaml.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("remove output %q: %v", out, err)
	}
	r := got.Removed
	if r.Service != "irc" || r.OnionAddress != sv.OnionAddress || r.Clients != 2 || r.OnionKey != sv.Details.KeyFile ||
		len(r.Dirs) != 1 || r.Dirs[0] != sv.Details.DataDir {
		t.Fatalf("remove says %+v, want irc, %s, 2 clients, key %s, dir %s", r, sv.OnionAddress, sv.Details.KeyFile, sv.Details.DataDir)
	}
	if _, err := os.Stat(sv.Details.DataDir); !os.IsNotExist(err) {
		t.Fatalf("%s still there after remove: %v", sv.Details.DataDir, err)
	}
}

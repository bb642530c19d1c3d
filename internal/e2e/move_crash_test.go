package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
	"tails-server/internal/testenv"
)

// faultEnv is the daemon's fault injection (internal/daemon/fault.go).
const faultEnv = "TAILS_SERVER_FAULT"

// movePoints are the named points of a persistence move, in order; from
// the switch on (index 3), a move goes forward.
var movePoints = []string{"journal", "mid-copy", "copied", "switched", "option-saved", "source-removed"}

// webSite writes a few files into web's folder, one of them a few MB, and
// returns them by path under the service dir.
func webSite(t *testing.T, d *daemon) map[string][]byte {
	t.Helper()
	big := make([]byte, 3<<20)
	rand.Read(big)
	files := map[string][]byte{
		"data/www/notes.txt":     []byte("group notes\n"),
		"data/www/sub/page.html": []byte("<p>sub page</p>\n"),
		"data/www/big.bin":       big,
	}
	dir := d.service("web").Details.DataDir
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// movedWeb is web as a test set it up: what must survive every move.
type movedWeb struct {
	state   string
	addr    string
	clients []string
	files   map[string][]byte
	onion   *onionClient
}

// check checks that web is in one consistent state: the persistence
// option, status and data dir all say persistent == want, the other root
// holds nothing of it (nor of a move), the files are byte-identical, the
// onion address and clients unchanged, and web reachable through the
// onion with the client's credential.
func (w *movedWeb) check(t *testing.T, d *daemon, want bool) {
	t.Helper()
	s := d.in(t).service("web")
	o, err := client.New(d.socket).GetOption(context.Background(), "web", "persistence", false)
	if err != nil {
		t.Fatal(err)
	}
	roots := map[bool]string{true: w.state, false: w.state + "-volatile"}
	if o.Value != fmt.Sprint(want) || s.Persistent != want || !strings.HasPrefix(s.Details.DataDir, roots[want]+"/") {
		t.Fatalf("persistence option %s, status persistent %v, data dir %s; want the files and the option %v", o.Value, s.Persistent, s.Details.DataDir, want)
	}
	for p, root := range roots {
		ents, _ := os.ReadDir(filepath.Join(root, "services"))
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") || (e.Name() == "web" && p != want) {
				t.Errorf("left in %s: %s", filepath.Join(root, "services"), e.Name())
			}
		}
	}
	for name, b := range w.files {
		got, err := os.ReadFile(filepath.Join(s.Details.DataDir, name))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s: %d bytes, %v; want the %d bytes written", name, len(got), err, len(b))
		}
	}
	if s.OnionAddress != w.addr {
		t.Errorf("onion address %s, was %s", s.OnionAddress, w.addr)
	}
	if got := clientNames(t, d); fmt.Sprint(got) != fmt.Sprint(w.clients) {
		t.Errorf("clients %v, were %v", got, w.clients)
	}
	if !s.Enabled {
		t.Fatalf("web is no longer enabled (state %s: %s)", s.State, s.Error)
	}
	waitFor(t, 180*time.Second, "web reachable", func() error {
		if s := d.in(t).service("web"); !s.Reachable {
			return fmt.Errorf("state %s: %s", s.State, s.Error)
		}
		return nil
	})
	// The daemon restarted, and its tor with it: the client's cached
	// descriptor names introduction points that are gone.
	w.onion.forget(t)
	waitFor(t, 120*time.Second, "the site through the onion", func() error {
		body, err := w.onion.curl("http://" + w.addr + "/notes.txt")
		if err == nil && body != string(w.files["data/www/notes.txt"]) {
			err = fmt.Errorf("got %q", body)
		}
		return err
	})
}

func clientNames(t *testing.T, d *daemon) []string {
	t.Helper()
	cs, err := client.New(d.socket).Clients(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// setUpWeb starts a daemon, enables web with a client and a site, and
// starts a client tor with the client's credential.
func setUpWeb(t *testing.T, state, socket string, extra ...string) (*daemon, *movedWeb) {
	t.Helper()
	d := startDaemon(t, state, socket, extra...)
	if out := d.mustCLI("enable", "web", "--wait", "150s"); !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable web:\n%s", out)
	}
	d.mustCLI("client", "add", "web", "ann")
	cred := strings.TrimSpace(d.mustCLI("client", "show", "web", "ann", "--format", "auth-private"))
	w := &movedWeb{state: state, addr: d.service("web").OnionAddress, files: webSite(t, d),
		onion: newOnionClient(t, "move-ann", cred)}
	w.clients = clientNames(t, d)
	return d, w
}

// killedAt starts a daemon that kills itself at the fault point, runs
// args against it, and checks that it died of the SIGKILL.
func killedAt(t *testing.T, state, socket, point string, args ...string) {
	t.Helper()
	ok := t.Run("killed", func(t *testing.T) {
		t.Setenv(faultEnv, "persistence-move:"+point)
		d := startDaemon(t, state, socket)
		out, errOut, code := d.cli(args...)
		exited := make(chan struct{})
		go func() { d.cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			d.cmd.Process.Kill()
			<-exited
			t.Fatalf("the daemon did not die at %s: %s answered exit %d\n%s%s", point, strings.Join(args, " "), code, out, errOut)
		}
		if ws, _ := d.cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("the daemon did not die of SIGKILL at %s: %s", point, d.cmd.ProcessState)
		}
	})
	if !ok {
		t.FailNow()
	}
}

// TestKillDuringPersistenceMove kills the daemon (SIGKILL, from the fault
// injection) at every step of a persistence move, both ways, starts it
// again without the fault and checks one consistent state: killed before
// the switch, the files and the option stay where they were; from the
// switch on, both are in the new root. Data, key and clients are intact
// and web is reachable through its onion.
func TestKillDuringPersistenceMove(t *testing.T) {
	requireNet(t)
	tmp := backendTempDir(t)
	state, socket := filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock")
	d, w := setUpWeb(t, state, socket)
	d.stop()
	type step struct {
		point string
		to    bool // the value set
		after bool // killed from the switch on: the move goes forward
	}
	var steps []step
	for i, p := range movePoints {
		steps = append(steps, step{p, true, i >= 3}, step{p, false, i >= 3})
	}
	persistent := false
	for k, st := range steps {
		ok := t.Run(fmt.Sprintf("%s/to-persistent=%v", st.point, st.to), func(t *testing.T) {
			killedAt(t, state, socket, st.point, "set-option", "web", "persistence", fmt.Sprint(st.to))
			d := startDaemon(t, state, socket)
			if st.after {
				persistent = st.to
			}
			w.check(t, d, persistent)
			// The next step moves the other way from where this one
			// left the files.
			if k+1 < len(steps) && steps[k+1].to == persistent {
				d.mustCLI("set-option", "web", "persistence", fmt.Sprint(!persistent))
				persistent = !persistent
				if s := d.service("web"); s.Persistent != persistent {
					t.Fatalf("set-option persistence %v answered 0, the files are persistent: %v", persistent, s.Persistent)
				}
			}
			d.stop()
		})
		if !ok {
			return
		}
	}
}

// TestPersistenceMoveFails moves web into a full persistent root (a 1 MB
// tmpfs) and back into a read-only volatile one: each is refused in one
// line, the value stays, the files stay where they were and web is
// reachable again.
func TestPersistenceMoveFails(t *testing.T) {
	requireNet(t)
	testenv.RequireRoot(t, "mounts a full tmpfs and a read-only bind mount")
	testenv.RequireProgram(t, "mount")
	tmp := backendTempDir(t)
	state, socket := filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock")
	d, w := setUpWeb(t, state, socket)

	full := filepath.Join(state, "services")
	mount(t, "-t", "tmpfs", "-o", "size=1m,mode=0711", "tmpfs", full)
	_, stderr, code := d.cli("set-option", "web", "persistence", "true")
	wantOneLineError(t, stderr, code, 1, "no space left on device")
	if !strings.Contains(stderr, "the old value stays") {
		t.Errorf("the refusal does not say the old value stays: %s", stderr)
	}
	d.waitState(t, "web", apitype.StateReachable, 180*time.Second)
	w.check(t, d, false)
	umount(t, full)

	d.mustCLI("set-option", "web", "persistence", "true")
	w.check(t, d, true)
	ro := filepath.Join(state+"-volatile", "services")
	mount(t, "--bind", ro, ro)
	mount(t, "-o", "remount,bind,ro", ro)
	_, stderr, code = d.cli("set-option", "web", "persistence", "false")
	wantOneLineError(t, stderr, code, 1, "read-only file system")
	w.check(t, d, true)
	umount(t, ro)
}

func mount(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		t.Fatalf("mount %v: %v: %s", args, err, out)
	}
	dir := args[len(args)-1]
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

func umount(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
		t.Fatalf("umount %s: %v: %s", dir, err, out)
	}
}

// TestDaemonStartsOnOldMoveLeftovers starts the daemon on the state that
// a version without move journals left when killed while it removed the
// source of a move to the volatile root: the complete copy in the volatile
// root (its record saying persistence false), what was left of the
// persistent one (its record already removed). That version removed the
// complete copy and kept the remains, which lost the service's record
// (enabled, clients) and part of its data.
func TestDaemonStartsOnOldMoveLeftovers(t *testing.T) {
	requireNet(t)
	tmp := backendTempDir(t)
	state, socket := filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock")
	d, w := setUpWeb(t, state, socket)
	d.mustCLI("set-option", "web", "persistence", "true")
	d.stop()

	src, dst := filepath.Join(state, "services", "web"), filepath.Join(state+"-volatile", "services", "web")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	for path, persistent := range map[string]bool{filepath.Join(src, "service.json"): true, filepath.Join(dst, "service.json"): false} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var rec map[string]any
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatal(err)
		}
		rec["persistent"] = persistent
		rec["options"].(map[string]any)["persistence"] = "false"
		b, _ = json.Marshal(rec)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"service.json", "data/www/notes.txt"} {
		if err := os.Remove(filepath.Join(src, f)); err != nil {
			t.Fatal(err)
		}
	}
	d = startDaemon(t, state, socket)
	w.check(t, d, false)
}

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/testenv"
)

// nobody is the uid (and gid) the attacks below run as.
const nobody = 65534

// binForOthers is a copy of the binary under test that another user can
// run (the one `go test` builds lives in a root-only directory).
func binForOthers(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(backendTempDir(t), "bin")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "tails-server")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// nobodyDir is a directory of user nobody's, reachable by nobody.
func nobodyDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(backendTempDir(t), "nobody")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runAs runs the binary as uid nobody with the supplementary groups given
// (none: not a member of anything) and returns stdout, stderr, exit code.
func runAs(t *testing.T, exe string, groups []uint32, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(exe, args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}, env...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: groups}}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running %v as nobody: %v", args, err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// guiAddr reads the GUI's address from the daemon's log (what every
// version of the daemon says at start).
func guiAddr(t *testing.T, d *daemon) string {
	t.Helper()
	re := regexp.MustCompile(`msg="gui listening" addr=(127\.0\.0\.1:\d+)`)
	var addr string
	waitFor(t, 30*time.Second, "the GUI's address in the daemon's log", func() error {
		m := re.FindStringSubmatch(d.log.String())
		if m == nil {
			return errors.New("not logged yet")
		}
		addr = m[1]
		return nil
	})
	return addr
}

// procPoller is a shell loop that copies every line it can read from
// /proc/*/cmdline and /proc/*/environ, once each, to $1, until $2 exists:
// what any local user can watch.
const procPoller = `out=$1; stop=$2
while [ ! -e "$stop" ]; do
  for f in /proc/[0-9]*/cmdline /proc/[0-9]*/environ; do
    tr '\0' '\n' < "$f" 2>/dev/null; echo
  done
done | awk '!seen[$0]++ { print; fflush() }' > "$out"
`

// TestGUILoginPollerAsNobody replays the takeover of finding 1: while
// `tails-server gui` opens the browser (a recording xdg-open in PATH,
// DISPLAY set), user nobody watches every process's arguments and
// environment, tries every token-looking string it saw against the GUI's
// login, and tries to read every file it saw named. It must get no
// session; the user who asked still logs in with the login file.
func TestGUILoginPollerAsNobody(t *testing.T) {
	requireNet(t)
	testenv.RequireRoot(t, "the attack runs as user nobody")
	for _, p := range []string{"setpriv", "bash", "awk", "tr"} {
		testenv.RequireProgram(t, p)
	}
	tmp := backendTempDir(t)
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))
	base := "http://" + guiAddr(t, d)

	// xdg-open records its arguments, then waits until the test has seen
	// the poller see it (so the poller had its chance, however slow).
	own := t.TempDir()
	rec, seen := filepath.Join(own, "xdg-open.args"), filepath.Join(own, "seen")
	pathDir := filepath.Join(own, "path")
	os.Mkdir(pathDir, 0o755)
	opener := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$@\" >> %s\ni=0\nwhile [ ! -e %s ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done\n", rec, seen)
	if err := os.WriteFile(filepath.Join(pathDir, "xdg-open"), []byte(opener), 0o755); err != nil {
		t.Fatal(err)
	}
	runtime := filepath.Join(own, "runtime")
	os.Mkdir(runtime, 0o700)

	nd := nobodyDir(t)
	out, stop := filepath.Join(nd, "seen.txt"), filepath.Join(nd, "stop")
	poller := exec.Command("setpriv", "--reuid="+strconv.Itoa(nobody), "--regid="+strconv.Itoa(nobody), "--clear-groups", "bash", "-c", procPoller, "poller", out, stop)
	poller.Dir = "/"
	if err := poller.Start(); err != nil {
		t.Fatal(err)
	}
	stopPoller := func() {
		os.WriteFile(stop, nil, 0o644)
		poller.Wait()
	}
	defer func() {
		if poller.ProcessState == nil {
			stopPoller()
		}
	}()
	waitFor(t, 60*time.Second, "the poller running", func() error {
		_, err := os.Stat(out)
		return err
	})

	type result struct {
		stdout, stderr string
		code           int
	}
	done := make(chan result, 1)
	go func() {
		o, e, c := cli(t, []string{"TAILS_SERVER_SOCKET=" + d.socket, "PATH=" + pathDir + ":" + os.Getenv("PATH"), "DISPLAY=:0", "XDG_RUNTIME_DIR=" + runtime}, "gui", "--browser", "-o", "json")
		done <- result{o, e, c}
	}()
	var args string
	waitFor(t, 60*time.Second, "xdg-open called", func() error {
		b, err := os.ReadFile(rec)
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			return errors.New("not yet")
		}
		args = strings.TrimSpace(string(b))
		return nil
	})
	waitFor(t, 120*time.Second, "the poller seeing xdg-open's arguments", func() error {
		b, _ := os.ReadFile(out)
		if !bytes.Contains(b, []byte(args)) {
			return errors.New("not yet")
		}
		return nil
	})
	os.WriteFile(seen, nil, 0o600)
	res := <-done
	if res.code != 0 {
		t.Fatalf("tails-server gui: exit %d\n%s", res.code, res.stderr)
	}
	stopPoller()
	watched, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}

	// Every token-looking string nobody saw, tried the ways a login ever
	// took a token: in the URL, and POSTed as a login file does.
	hc := &http.Client{CheckRedirect: noRedirect, Timeout: 30 * time.Second}
	candidates := regexp.MustCompile(`[A-Za-z0-9_-]{32,}`).FindAllString(string(watched), -1)
	for _, c := range candidates {
		resp, err := hc.Get(base + "/login?token=" + c)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if len(resp.Cookies()) != 0 {
			t.Fatalf("user nobody logged in to the GUI with %q, read in /proc while `tails-server gui` ran (xdg-open got %q)", c, args)
		}
		resp, err = postLogin(hc, base+"/login", c)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if len(resp.Cookies()) != 0 {
			t.Fatalf("user nobody logged in to the GUI with %q, read in /proc while `tails-server gui` ran", c)
		}
	}
	// Every file named there stays closed to nobody.
	for _, m := range regexp.MustCompile(`(?:file://)?(/[^\s'"]+\.html)`).FindAllStringSubmatch(string(watched), -1) {
		if err := exec.Command("setpriv", "--reuid="+strconv.Itoa(nobody), "--regid="+strconv.Itoa(nobody), "--clear-groups", "cat", m[1]).Run(); err == nil {
			t.Fatalf("user nobody can read %s, named in xdg-open's arguments", m[1])
		}
	}
	t.Logf("nobody saw %d lines, %d token-looking strings; xdg-open got %q", bytes.Count(watched, []byte("\n")), len(candidates), args)

	// The person who asked logs in: xdg-open got the login file, theirs
	// alone, and it holds a token that works.
	file := strings.TrimPrefix(args, "file://")
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 || !strings.HasPrefix(file, runtime+"/") {
		t.Fatalf("xdg-open got %q: want a 0600 file in $XDG_RUNTIME_DIR (%v, %v)", args, fi, err)
	}
	action, token := readLoginFile(t, file)
	if strings.Contains(string(watched), token) || strings.Contains(args, token) {
		t.Fatal("the login token was in a process's arguments or environment")
	}
	resp, err := postLogin(hc, action, token)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 1 {
		t.Fatalf("the login file does not log its owner in: %s", resp.Status)
	}
}

// TestAPIGroup: root and the members of the daemon's group (--group) may
// use the API, and the daemon logs the caller's uid with each change;
// anyone else gets the one-line error with the fix, exit 3. Without
// --group the socket belongs to group tails-server, made when missing; a
// --group that does not exist stops the daemon with the fix.
func TestAPIGroup(t *testing.T) {
	requireNet(t)
	testenv.RequireRoot(t, "the callers run as user nobody, the daemon makes groups")
	testenv.RequireProgram(t, "groupadd")
	testenv.RequireProgram(t, "groupdel")
	group := fmt.Sprintf("tsgt%d", os.Getpid()%100000)
	if out, err := exec.Command("groupadd", "--system", group).CombinedOutput(); err != nil {
		t.Fatalf("groupadd %s: %v %s", group, err, out)
	}
	t.Cleanup(func() { exec.Command("groupdel", group).Run() })
	g, err := user.LookupGroup(group)
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := strconv.Atoi(g.Gid)

	tmp := backendTempDir(t)
	sock := filepath.Join(tmp, "api.sock")
	d := startDaemon(t, filepath.Join(tmp, "state"), sock, "--group", group)
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o660 || st.Uid != 0 || int(st.Gid) != gid {
		t.Fatalf("socket %v uid %d gid %d, want 0660 root:%s", fi.Mode(), st.Uid, st.Gid, group)
	}
	exe := binForOthers(t)
	env := []string{"TAILS_SERVER_SOCKET=" + sock}

	t.Run("member", func(t *testing.T) {
		if out, errOut, code := runAs(t, exe, []uint32{uint32(gid)}, env, "list"); code != 0 || !strings.Contains(out, "web") {
			t.Fatalf("list as a member of %s: exit %d\n%s%s", group, code, out, errOut)
		}
		if out, errOut, code := runAs(t, exe, []uint32{uint32(gid)}, env, "set-option", "web", "title", "Made by nobody"); code != 0 {
			t.Fatalf("set-option as a member: exit %d\n%s%s", code, out, errOut)
		}
		waitFor(t, 30*time.Second, "the change logged with the caller's uid", func() error {
			if !regexp.MustCompile(`msg="api change" part=api method=PUT path=/api/v1/services/web/options/title uid=65534 pid=\d+`).MatchString(d.log.String()) {
				return errors.New("not yet")
			}
			return nil
		})
		if strings.Contains(d.log.String(), "Made by nobody") {
			t.Fatal("the log holds the option's value")
		}
	})

	// A member's GUI session is theirs: the daemon logs it opened for
	// their uid, and the changes made through it name them too.
	t.Run("member opens the GUI", func(t *testing.T) {
		rt := nobodyDir(t)
		out, errOut, code := runAs(t, exe, []uint32{uint32(gid)}, append(env, "XDG_RUNTIME_DIR="+rt), "gui", "--no-open", "-o", "json")
		if code != 0 {
			t.Fatalf("gui as a member: exit %d\n%s%s", code, out, errOut)
		}
		file := filepath.Join(rt, "tails-server", "gui-login.html")
		fi, err := os.Stat(file)
		if err != nil || fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != nobody || !strings.Contains(out, file) {
			t.Fatalf("login file %s (%v, %v), printed:\n%s", file, fi, err, out)
		}
		action, token := readLoginFile(t, file)
		s := newHTTPSession(t, strings.TrimSuffix(action, "/login"), action, token)
		if resp, _ := s.post(t, "/services/web/clients", url.Values{"client": {"viagui"}, "csrf": {s.csrf(t)}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("add a client through the member's GUI session: %s", resp.Status)
		}
		waitFor(t, 30*time.Second, "the session and its change logged with the member's uid", func() error {
			l := d.log.String()
			if !strings.Contains(l, "GUI session opened for uid 65534") ||
				!regexp.MustCompile(`msg="api change" part=api method=POST path=/api/v1/services/web/clients uid=0 pid=\d+ gui_uid=65534`).MatchString(l) {
				return errors.New("not yet")
			}
			return nil
		})
		if strings.Contains(d.log.String(), token) {
			t.Fatal("the daemon's log holds the login token")
		}
	})

	t.Run("non-member", func(t *testing.T) {
		out, errOut, code := runAs(t, exe, nil, env, "list")
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		want := "tails-server: error: permission denied on " + sock + ": only root and the members of group " + group + " may use the daemon"
		if code != 3 || out != "" || len(lines) != 2 || lines[0] != want || !strings.Contains(lines[1], "sudo adduser $USER "+group) {
			t.Fatalf("list as a non-member: exit %d, stdout %q, stderr:\n%s\nwant exit 3 and %q with a hint to join", code, out, errOut, want)
		}
	})

	t.Run("default group", func(t *testing.T) {
		sock2 := filepath.Join(tmp, "api2.sock")
		startDaemon(t, filepath.Join(tmp, "state2"), sock2, "--gui-listen", "off")
		g, err := user.LookupGroup("tails-server")
		if err != nil {
			t.Fatalf("the daemon did not make group tails-server: %v", err)
		}
		fi, err := os.Stat(sock2)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); strconv.Itoa(int(st.Gid)) != g.Gid || fi.Mode().Perm() != 0o660 {
			t.Fatalf("socket %v gid %d, want 0660 group tails-server (%s)", fi.Mode(), st.Gid, g.Gid)
		}
	})

	t.Run("no such group", func(t *testing.T) {
		sock3 := filepath.Join(tmp, "api3.sock")
		_, errOut, code := cli(t, nil, "daemon", "--state", filepath.Join(tmp, "state3"), "--network", "testnet", "--testnet-dir", tnet.Dir,
			"--socket", sock3, "--firewall=false", "--gui-listen", "off", "--group", "no-such-group-x")
		if code == 0 || !strings.Contains(errOut, "no such group: create it with `groupadd --system no-such-group-x`") {
			t.Fatalf("--group no-such-group-x: exit %d\n%s", code, errOut)
		}
		if _, err := os.Stat(sock3); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a refused --group left a socket: %v", err)
		}
		if _, err := user.LookupGroup("no-such-group-x"); err == nil {
			t.Fatal("the daemon made the group it was told to use")
		}
	})
}

// TestCLIRefusesForeignSocket: a socket served by another user (here
// nobody, with nc) gets nothing from the CLI, not even a request line: a
// command that would send a secret stops with a clear error, exit 3.
func TestCLIRefusesForeignSocket(t *testing.T) {
	testenv.RequireRoot(t, "the fake daemon runs as user nobody")
	testenv.RequireProgram(t, "nc")
	testenv.RequireProgram(t, "setpriv")
	nd := nobodyDir(t)
	sock, got := filepath.Join(nd, "api.sock"), filepath.Join(nd, "received")
	srv := exec.Command("setpriv", "--reuid="+strconv.Itoa(nobody), "--regid="+strconv.Itoa(nobody), "--clear-groups",
		"sh", "-c", `exec nc -lUd "$1" > "$2"`, "fake", sock, got)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	waitFor(t, 30*time.Second, "the fake daemon listening", func() error {
		_, err := os.Stat(sock)
		return err
	})
	type result struct {
		out, errOut string
		code        int
	}
	done := make(chan result, 1)
	go func() {
		o, e, c := cli(t, []string{"TAILS_SERVER_SOCKET=" + sock}, "set-option", "web", "title", "a-secret-value")
		done <- result{o, e, c}
	}()
	// The fake daemon never answers: the CLI ends by itself only if it
	// refuses the socket; if it sent something, stop the fake daemon.
	var res result
	waitFor(t, 60*time.Second, "the CLI done, or bytes sent to the fake daemon", func() error {
		select {
		case res = <-done:
			return nil
		default:
		}
		if b, _ := os.ReadFile(got); len(b) > 0 {
			srv.Process.Kill()
			res = <-done
			return nil
		}
		return errors.New("not yet")
	})
	if b, _ := os.ReadFile(got); len(b) != 0 {
		t.Fatalf("the CLI sent %d bytes to a socket served by nobody:\n%s", len(b), b)
	}
	out, errOut, code := res.out, res.errOut, res.code
	want := "tails-server: error: refusing the daemon at " + sock + ": it is served by uid 65534 (nobody), not by root; nothing was sent to it"
	if code != 3 || out != "" || !strings.HasPrefix(errOut, want+"\n") || !strings.Contains(errOut, "hint: ") {
		t.Fatalf("CLI on a socket served by nobody: exit %d, stdout %q, stderr:\n%s\nwant exit 3 and %q", code, out, errOut, want)
	}
}

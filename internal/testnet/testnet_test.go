package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"tails-server/internal/socks"
	"tails-server/internal/testenv"
)

// echoServer listens on 127.0.0.1 and echoes what it reads.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := startEcho()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// roundTrip sends a line through the SOCKS proxy to the echo server at
// target and checks that it comes back.
func roundTrip(t *testing.T, proxy, target string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	conn, err := socks.Dial(ctx, proxy, target, nil)
	if err != nil {
		t.Fatalf("dial %s through %s: %v", target, proxy, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	msg := fmt.Sprintf("hello through %s\n", proxy)
	if _, err := io.WriteString(conn, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo through %s: %q, %v", proxy, buf, err)
	}
	t.Logf("round trip through %s in %v", proxy, time.Since(start).Round(time.Millisecond))
}

// torsUnder returns the pids of processes whose command line mentions dir.
func torsUnder(dir string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(b), dir) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && strings.Contains(string(st), ") Z ") {
			continue // exited, not yet reaped
		}
		pids = append(pids, pid)
	}
	return pids
}

// requireNothingRunning fails if a process still runs from dir, allowing a
// moment for reaping.
func requireNothingRunning(t *testing.T, dir string) {
	t.Helper()
	var left []int
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if left = torsUnder(dir); len(left) == 0 {
			return
		}
	}
	t.Errorf("processes still running from %s: %v", dir, left)
}

func TestUpDown(t *testing.T) {
	testenv.RequireTor(t)
	testenv.RequireProgram(t, "tor-gencert")
	dir := t.TempDir()
	t.Cleanup(func() { Down(dir) })

	var lines []string
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	env, err := Up(ctx, Options{Dir: dir, Progress: func(l string) {
		lines = append(lines, l)
		t.Logf("%6.1fs %s", time.Since(start).Seconds(), l)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Up returned after %.1f s", time.Since(start).Seconds())

	// The Env and the files.
	if env.Dir != dir || !strings.HasPrefix(env.SocksAddr, "127.0.0.1:") || !strings.HasPrefix(env.ControlAddr, "127.0.0.1:") {
		t.Errorf("env: dir %q socks %q control %q", env.Dir, env.SocksAddr, env.ControlAddr)
	}
	if b, err := os.ReadFile(env.ControlCookie); err != nil || len(b) != 32 {
		t.Errorf("control cookie %s: %d bytes, %v", env.ControlCookie, len(b), err)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "bootstrap 100% (done)") {
		t.Errorf("no bootstrap 100%% progress line in %q", lines)
	}
	roles := map[string]int{}
	for _, n := range env.Nodes {
		roles[n.Role]++
		if !ourTor(n.PID, filepath.Join(n.Dir, torrcFile)) {
			t.Errorf("node %s: pid %d is not running", n.Name, n.PID)
		}
		torrc, err := os.ReadFile(filepath.Join(n.Dir, torrcFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"TestingTorNetwork 1\n", "DirAuthority auth3 ", "CookieAuthentication 1\n", "GeoIPFile /dev/null\n"} {
			if !strings.Contains(string(torrc), want) {
				t.Errorf("%s torrc lacks %q", n.Name, want)
			}
		}
		if n.Role != RoleClient && !strings.Contains(string(torrc), "SocksPort 0\n") {
			t.Errorf("%s torrc lacks SocksPort 0", n.Name)
		}
	}
	if !reflect.DeepEqual(roles, map[string]int{RoleAuthority: 3, RoleRelay: 3, RoleExit: 1, RoleClient: 1}) {
		t.Errorf("roles: %v", roles)
	}
	join, err := os.ReadFile(filepath.Join(dir, joinFile))
	if err != nil || string(join) != env.JoinTorrc {
		t.Errorf("join.torrc differs from Env.JoinTorrc (%v)", err)
	}
	if n := strings.Count(env.JoinTorrc, "\nDirAuthority "); n != 3 {
		t.Errorf("join torrc has %d DirAuthority lines:\n%s", n, env.JoinTorrc)
	}
	for _, bad := range []string{"SocksPort", "DataDirectory", "ControlPort"} {
		if strings.Contains("\n"+env.JoinTorrc, "\n"+bad+" ") {
			t.Errorf("join torrc holds %s", bad)
		}
	}
	for _, f := range []string{envFile, joinFile} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Mode().Perm() != filePerm {
			t.Errorf("%s: %v %v", f, st.Mode(), err)
		}
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != dirPerm {
		t.Errorf("dir mode %v", st.Mode())
	}
	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded, env) {
		t.Errorf("Load differs from Up:\n%+v\n%+v", loaded, env)
	}
	y, err := env.YAML()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(y, &m); err != nil || m["socks_addr"] != env.SocksAddr {
		t.Errorf("YAML: %v, %v", m["socks_addr"], err)
	}

	// Streams through the client and through a second, joined client.
	target := echoServer(t)
	roundTrip(t, env.SocksAddr, target)

	if _, err := Up(ctx, Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Up on a running network: %v", err)
	}

	tstart := time.Now()
	tr, err := env.StartTor(ctx, "second", []string{"ConfluxEnabled 0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("StartTor returned after %.1f s", time.Since(tstart).Seconds())
	if b, err := os.ReadFile(tr.CookiePath); err != nil || len(b) != 32 || !strings.HasPrefix(tr.ControlAddr, "127.0.0.1:") {
		t.Errorf("second tor: cookie %v, control %q", err, tr.ControlAddr)
	}
	roundTrip(t, tr.SocksAddr, target)
	if _, err := env.StartTor(ctx, "second", nil); err == nil || !strings.Contains(err.Error(), "already runs") {
		t.Errorf("StartTor twice: %v", err)
	}
	if _, err := env.StartTor(ctx, "../escape", nil); err == nil {
		t.Error("StartTor accepted a name with a slash")
	}
	if err := tr.Stop(); err != nil {
		t.Error(err)
	}
	if err := tr.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	requireNothingRunning(t, tr.Dir)

	// A client tor with credentials, which outlives its caller until Down.
	cl, err := env.StartClient(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, cl.SocksAddr, target)
	if again, err := env.StartClient(ctx, "demo"); err != nil || again.PID != cl.PID || again.SocksAddr != cl.SocksAddr {
		t.Errorf("StartClient on a running client: %+v, %v; want the running one %+v", again, err, cl)
	}
	if sid := session(t, cl.PID); sid != strconv.Itoa(cl.PID) {
		t.Errorf("client tor: session %s; want a session of its own (it outlives its caller)", sid)
	}
	if b, err := os.ReadFile(filepath.Join(cl.Dir, torrcFile)); err != nil || strings.Contains(string(b), "__OwningControllerProcess") {
		t.Errorf("client torrc ties it to its caller: %v\n%s", err, b)
	}
	// A well-formed credential (of an onion that does not exist): written
	// 0600 and read by tor at its reload.
	cred := strings.Repeat("a", 56) + ":descriptor:x25519:" + strings.Repeat("A", 52)
	path, err := cl.AddCredential(ctx, "web", cred)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 || filepath.Dir(path) != cl.AuthDir {
		t.Errorf("credential file %s: %v, %v", path, fi, err)
	}
	if b, _ := os.ReadFile(path); string(b) != cred+"\n" {
		t.Errorf("credential file holds %q", b)
	}
	roundTrip(t, cl.SocksAddr, target) // still serving after the reload

	// Down.
	dstart := time.Now()
	if err := Down(dir); err != nil {
		t.Fatal(err)
	}
	t.Logf("Down took %.1f s", time.Since(dstart).Seconds())
	requireNothingRunning(t, dir)
	for _, n := range env.Nodes {
		if ourTor(n.PID, filepath.Join(n.Dir, torrcFile)) {
			t.Errorf("node %s (pid %d) still runs", n.Name, n.PID)
		}
	}
	if ourTor(cl.PID, filepath.Join(cl.Dir, torrcFile)) {
		t.Errorf("client tor %d still runs after Down", cl.PID)
	}
	if _, err := env.Client("demo"); err == nil {
		t.Error("Client finds the client tor after Down")
	}
	if _, err := Load(dir); err == nil {
		t.Error("Load works after Down")
	}
	if err := Down(dir); err != nil {
		t.Errorf("second Down: %v", err)
	}
	if err := Down(filepath.Join(dir, "nonexistent")); err != nil {
		t.Errorf("Down on a missing dir: %v", err)
	}
}

// session returns the session id of process pid, from /proc.
func session(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])) // state ppid pgrp session ...
	return f[3]
}

// fakeTor writes a tor wrapper that adds a bad option to the torrc of the
// node whose directory name is node, and links tor-gencert beside it.
func fakeTor(t *testing.T, node string) string {
	t.Helper()
	realTor := testenv.RequireTor(t)
	gencert := testenv.RequireProgram(t, "tor-gencert")
	bin := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\ncase \"$*\" in\n*/%s/torrc*) exec %s \"$@\" --NoSuchOption 1 ;;\nesac\nexec %s \"$@\"\n", node, realTor, realTor)
	if err := os.WriteFile(filepath.Join(bin, "tor"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(gencert, filepath.Join(bin, "tor-gencert")); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(bin, "tor")
}

func TestUpFailures(t *testing.T) {
	testenv.RequireTor(t)
	testenv.RequireProgram(t, "tor-gencert")

	t.Run("tor exits", func(t *testing.T) {
		dir := t.TempDir()
		start := time.Now()
		_, err := Up(context.Background(), Options{Dir: dir, TorBinary: fakeTor(t, "relay2")})
		t.Logf("Up failed after %.1f s: %v", time.Since(start).Seconds(), err)
		if err == nil {
			Down(dir)
			t.Fatal("Up worked with a broken relay2")
		}
		for _, want := range []string{"tor relay2 exited", "last lines of " + filepath.Join(dir, "relay2"), "NoSuchOption"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q", want)
			}
		}
		requireNothingRunning(t, dir)
	})

	t.Run("timeout", func(t *testing.T) {
		dir := t.TempDir()
		start := time.Now()
		_, err := Up(context.Background(), Options{Dir: dir, Timeout: 5 * time.Second})
		t.Logf("Up failed after %.1f s: %v", time.Since(start).Seconds(), err)
		if !errors.Is(err, context.DeadlineExceeded) {
			Down(dir)
			t.Fatalf("got %v, want a deadline error", err)
		}
		for _, want := range []string{"not usable", "last lines of " + dir, "notice.log:\n"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q", want)
			}
		}
		if n := strings.Count(err.Error(), "\n"); n < 3 || n > tailLines {
			t.Errorf("error quotes %d lines", n)
		}
		requireNothingRunning(t, dir)
	})

	t.Run("impossible timeout", func(t *testing.T) {
		dir := t.TempDir()
		_, err := Up(context.Background(), Options{Dir: dir, Timeout: time.Millisecond})
		if !errors.Is(err, context.DeadlineExceeded) {
			Down(dir)
			t.Fatalf("got %v, want a deadline error", err)
		}
		requireNothingRunning(t, dir)
	})

	t.Run("cancelled", func(t *testing.T) {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Cancel while the client bootstraps.
		_, err := Up(ctx, Options{Dir: dir, Progress: func(l string) {
			if strings.HasPrefix(l, "bootstrap 5") {
				cancel()
			}
		}})
		t.Logf("Up failed: %v", err)
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
			Down(dir)
			t.Fatalf("got %v, want context.Canceled", err)
		}
		requireNothingRunning(t, dir)
	})

	t.Run("bad options", func(t *testing.T) {
		for _, o := range []Options{
			{},
			{Dir: t.TempDir(), BasePort: 80},
			{Dir: t.TempDir(), BasePort: 65500},
			{Dir: filepath.Join(t.TempDir(), "a b")},
			{Dir: t.TempDir(), TorBinary: "/nonexistent/tor"},
		} {
			if _, err := Up(context.Background(), o); err == nil {
				t.Errorf("Up(%+v) worked", o)
			}
		}
	})
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "no network") {
		t.Errorf("empty dir: %v", err)
	}
	os.WriteFile(filepath.Join(dir, envFile), []byte("dir: /x\nsocks_addr: 127.0.0.1:1\njoin_torrc: x\nbogus: 1\n"), 0o600)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "bogus") || strings.Contains(err.Error(), "\n") {
		t.Errorf("unknown key: %v", err)
	}
	os.WriteFile(filepath.Join(dir, envFile), []byte("dir: /x\n"), 0o600)
	if _, err := Load(dir); err == nil {
		t.Error("incomplete env loaded")
	}
}

func TestLogFollower(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	f := &logFollower{path: path}
	if l := f.next(); l != nil {
		t.Errorf("missing file: %q", l)
	}
	os.WriteFile(path, []byte("one\ntw"), 0o600)
	if l := f.next(); !reflect.DeepEqual(l, []string{"one"}) {
		t.Errorf("got %q", l)
	}
	fh, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString("o\nNov 25 21:19:16.000 [notice] Bootstrapped 45% (loading_descriptors): Loading relay descriptors\n")
	fh.Close()
	l := f.next()
	if len(l) != 2 || l[0] != "two" {
		t.Fatalf("got %q", l)
	}
	pct, text, ok := bootstrapLine(l[1])
	if !ok || pct != 45 || text != "bootstrap 45% (loading_descriptors): Loading relay descriptors" {
		t.Errorf("bootstrapLine: %d %q %v", pct, text, ok)
	}
}

func TestLayPorts(t *testing.T) {
	p, err := layPorts(20000)
	if err != nil {
		t.Fatal(err)
	}
	if p[0] != [4]int{20000, 20001, 20002, 20003} || p[7][3] != 20073 || 20000+portSpan-1 != 20073 {
		t.Errorf("layout: %v", p)
	}
	p, err = layPorts(0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, n := range p {
		for _, port := range n {
			if seen[port] {
				t.Errorf("port %d twice", port)
			}
			seen[port] = true
		}
	}
	if _, err := FreePort(); err != nil {
		t.Error(err)
	}
}

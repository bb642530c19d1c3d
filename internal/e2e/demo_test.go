package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/testenv"
)

// TestDemoBehindAPipe runs the demo as `make demo 2>&1 | tee demo.log`
// runs it from a terminal, as scripts/demo.sh and as `make demo`: the
// demo and tee in one process group, the demo's output going into tee.
// Once the demo runs, it reaches a second service through the demo's
// client tor with `testnet client add` (what the demo prints for it),
// then does what Ctrl-C does there: tee dies and the group gets SIGINT.
// Nothing the demo started may be left: no tor of its network, no client
// tor, no daemon, no tor of the daemon.
func TestDemoBehindAPipe(t *testing.T) {
	testenv.RequireTor(t)
	testenv.RequireProgram(t, "tor-gencert")
	testenv.RequireProgram(t, "curl")
	testenv.RequireProgram(t, "tee")
	testenv.RequireProgram(t, "make")
	testenv.RequireRoot(t, "the demo's daemon runs as root")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("scripts/demo.sh", func(t *testing.T) {
		demoBehindAPipe(t, exec.Command(filepath.Join(root, "scripts", "demo.sh")))
	})
	t.Run("make demo", func(t *testing.T) {
		// GO=true: make's build step does nothing; the demo runs the
		// binary under test ($TAILS_SERVER_BIN).
		demoBehindAPipe(t, exec.Command("make", "-C", root, "--no-print-directory", "demo", "GO=true"))
	})
}

func demoBehindAPipe(t *testing.T, demo *exec.Cmd) {
	dir := filepath.Join(t.TempDir(), "demo")
	logPath := filepath.Join(t.TempDir(), "demo.log")
	demo.Env = append(withoutEnv(os.Environ(), "TAILS_SERVER_SOCKET"), "TAILS_SERVER_BIN="+bin, "TAILS_DEMO_DIR="+dir)
	demo.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	demo.Stdout, demo.Stderr = w, w
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := demo.Process.Pid
	demoDone := make(chan struct{})
	go func() { demo.Wait(); close(demoDone) }()
	tee := exec.Command("tee", logPath)
	tee.Stdin = r
	tee.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
	if err := tee.Start(); err != nil {
		syscall.Kill(-pgid, syscall.SIGKILL)
		t.Fatal(err)
	}
	teeDone := make(chan struct{})
	go func() { tee.Wait(); close(teeDone) }()
	r.Close()
	w.Close()
	log := func() string { b, _ := os.ReadFile(logPath); return string(b) }

	// Whatever happens, leave nothing running: the network by its pid
	// files, the rest by process group.
	var netDir string
	t.Cleanup(func() {
		syscall.Kill(-pgid, syscall.SIGKILL)
		if netDir != "" {
			exec.Command(bin, "testnet", "down", "--dir", netDir).Run()
		}
		if t.Failed() {
			t.Logf("demo output:\n%s", log())
			if b, err := os.ReadFile(filepath.Join(dir, "daemon.log")); err == nil {
				t.Logf("daemon log (end):\n%s", lastLines(string(b), 30))
			}
		}
	})

	waitFor(t, 6*time.Minute, "the demo running", func() error {
		select {
		case <-demoDone:
			t.Fatalf("the demo exited before it ran")
		default:
		}
		if !strings.Contains(log(), "demo: running") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	out := log()
	netDir = match(t, out, `demo: starting the private Tor network in (\S+)`)
	stateDir := match(t, out, `state dir:\s+(\S+)`)
	if !strings.Contains(out, "<h1>Welcome</h1>") {
		t.Errorf("the demo did not print web's page fetched through its client")
	}

	t.Run("another service through the demo's client", func(t *testing.T) {
		socks := match(t, out, `SOCKS port:\s+(127\.0\.0\.1:\d+)`)
		authDir := match(t, out, `ClientOnionAuthDir:\s+(\S+)`)
		env := []string{"TAILS_SERVER_SOCKET=" + filepath.Join(dir, "api.sock")}
		run := func(args ...string) string {
			t.Helper()
			stdout, stderr, code := cli(t, env, args...)
			if code != 0 {
				t.Fatalf("tails-server %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
			}
			return stdout
		}
		if !strings.Contains(out, "testnet client --dir "+netDir+" add fileshare") {
			t.Errorf("the demo does not print the command that adds another service's credential")
		}
		run("enable", "fileshare")
		added := run("testnet", "client", "--dir", netDir, "add", "fileshare")
		if got := match(t, added, `socks_addr: (\S+)`); got != socks {
			t.Errorf("testnet client add: socks_addr %s, the demo printed %s", got, socks)
		}
		addr := match(t, added, `onion_address: (\S+)`)
		cred := filepath.Join(authDir, "fileshare.auth_private")
		if got := match(t, added, `credential_file: (\S+)`); got != cred {
			t.Errorf("testnet client add: credential_file %s, want %s", got, cred)
		}
		if fi, err := os.Stat(cred); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("credential file %s: %v, mode %v; want 0600", cred, err, fi)
		}
		if !strings.Contains(added, "reachable: true") {
			t.Errorf("testnet client add did not report fileshare reachable through the client:\n%s", added)
		}
		// add returns once the credential works: the next command, as the
		// demo prints it, gets the page.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		page, err := exec.CommandContext(ctx, "curl", "-sS", "--socks5-hostname", socks, "http://"+addr+"/").CombinedOutput()
		if err != nil || !bytes.Contains(page, []byte("<h1>Shared files</h1>")) {
			t.Errorf("curl through the demo's client right after testnet client add: %v\n%s", err, lastLines(string(page), 5))
		}
	})

	// What the demo started, before Ctrl-C: its process group and every
	// descendant (the daemon's tors have groups of their own), and every
	// process naming the network or the state directory (the network's
	// tors and the client tor run in sessions of their own).
	before := demoProcesses(pgid, netDir, stateDir)
	if len(before) < 11 { // demo, daemon, its tor, 8 network tors, client tor
		t.Fatalf("only %d processes of the demo found before Ctrl-C: %v", len(before), before)
	}

	// Ctrl-C, as a terminal does it: tee dies, the group gets SIGINT.
	tee.Process.Kill()
	<-teeDone
	if err := syscall.Kill(-pgid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-demoDone:
	case <-time.After(3 * time.Minute):
		t.Fatalf("the demo did not exit within 3 minutes of SIGINT")
	}
	var left []string
	waitFor(t, time.Minute, "every process of the demo gone", func() error {
		left = nil
		for pid, p := range before {
			if p.alive(pid) {
				left = append(left, p.String())
			}
		}
		for pid, p := range demoProcesses(-1, netDir, stateDir) {
			if _, ok := before[pid]; !ok {
				left = append(left, p.String())
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("left running: %s", strings.Join(left, "; "))
		}
		return nil
	})
}

// procInfo is a process as /proc shows it.
type procInfo struct {
	start   string // start time, so that a reused pid is not taken for it
	cmdline string
}

func (p procInfo) String() string { return p.cmdline }

func (p procInfo) alive(pid int) bool {
	q, ok := readProc(pid)
	return ok && q.start == p.start
}

// readProc reads a live (not zombie) process, with its parent and group.
func readProc(pid int) (p procInfo, ok bool) {
	_, _, state, start, err := procStat(pid)
	if err != nil || state == "Z" || state == "X" {
		return procInfo{}, false
	}
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return procInfo{}, false
	}
	return procInfo{start: start, cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))}, true
}

func procStat(pid int) (ppid, pgid int, state, start string, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, "", "", err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, "", "", fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:])) // state ppid pgrp session ... starttime is field 22, f[19]
	if len(f) < 20 {
		return 0, 0, "", "", fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	ppid, _ = strconv.Atoi(f[1])
	pgid, _ = strconv.Atoi(f[2])
	return ppid, pgid, f[0], f[19], nil
}

// demoProcesses returns the live processes of group pgid (none if pgid is
// -1) and their descendants, and those whose command line names one of
// dirs.
func demoProcesses(pgid int, dirs ...string) map[int]procInfo {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	found := map[int]procInfo{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		ppid, pg, _, _, err := procStat(pid)
		if err != nil {
			continue
		}
		p, ok := readProc(pid)
		if !ok {
			continue
		}
		parent[pid] = ppid
		if pg == pgid {
			found[pid] = p
		}
		for _, d := range dirs {
			if strings.Contains(p.cmdline, d) {
				found[pid] = p
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for pid, ppid := range parent {
			if _, in := found[pid]; in {
				continue
			}
			if _, up := found[ppid]; up {
				if p, ok := readProc(pid); ok {
					found[pid] = p
					changed = true
				}
			}
		}
	}
	return found
}

// match returns the first group of re in s, or fails t.
func match(t *testing.T, s, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %q in:\n%s", re, s)
	}
	return m[1]
}

func withoutEnv(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

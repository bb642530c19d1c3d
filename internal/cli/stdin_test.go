package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"tails-server/internal/apitype"
	"tails-server/internal/testenv"
)

// pollEnv set to a prefix makes the test binary poll every process's
// command line and environment for it instead of running the tests: it
// prints "seen PID TEXT" for each hit and "pass" after each full round,
// until its stdin closes.
const pollEnv = "TAILS_SERVER_CLI_TEST_POLL"

func init() {
	if prefix := os.Getenv(pollEnv); prefix != "" {
		poll(prefix)
		os.Exit(0)
	}
}

// poll is the attacker: another user reading /proc.
func poll(prefix string) {
	self := strconv.Itoa(os.Getpid())
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	out := bufio.NewWriter(os.Stdout)
	for {
		select {
		case <-done:
			return
		default:
		}
		pids, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range pids {
			if filepath.Base(p) == self {
				continue
			}
			for _, f := range []string{"cmdline", "environ"} {
				b, err := os.ReadFile(filepath.Join(p, f))
				if err == nil && bytes.Contains(b, []byte(prefix)) {
					out.WriteString("seen " + filepath.Base(p) + " " + strings.ReplaceAll(string(b), "\x00", " ") + "\n")
				}
			}
		}
		out.WriteString("pass\n")
		out.Flush()
	}
}

// poller runs poll as nobody and says what it saw.
type poller struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	seen  []string
	pass  int
	moved chan struct{} // closed and replaced at each pass
}

func startPoller(t *testing.T, prefix string) *poller {
	t.Helper()
	// The test binary sits in a folder only root may enter: copy it
	// where nobody can run it.
	dir, err := os.MkdirTemp("", "poller-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "poller")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &poller{moved: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = []string{pollEnv + "=" + prefix}
	p.cmd.Dir = "/"
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: false, Groups: []uint32{}}}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stdin.Close(); p.cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			if line := sc.Text(); line == "pass" {
				p.pass++
				close(p.moved)
				p.moved = make(chan struct{})
			} else {
				p.seen = append(p.seen, line)
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// waitPasses waits until the poller has read every process n more times.
func (p *poller) waitPasses(n int) bool {
	p.mu.Lock()
	want := p.pass + n
	p.mu.Unlock()
	deadline := time.After(2 * time.Minute)
	for {
		p.mu.Lock()
		got, ch := p.pass, p.moved
		p.mu.Unlock()
		if got >= want {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

func (p *poller) saw(s string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var hits []string
	for _, l := range p.seen {
		if strings.Contains(l, s) {
			hits = append(hits, l)
		}
	}
	return hits
}

// secretAPI answers for one secret option, sftp's password, and holds
// each PUT until the poller has looked at every process three times
// while the CLI waits for the answer (with the value in its memory).
func secretAPI(t *testing.T, p *poller) (sock string, got func() []string) {
	t.Helper()
	sock = filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var values []string
	opt := apitype.Option{Name: "password", Title: "Password", Type: "secret", Value: "********"}
	mux := http.NewServeMux()
	path := apitype.Version + "/services/sftp/options/password"
	mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(opt)
	})
	mux.HandleFunc("PUT "+path, func(w http.ResponseWriter, r *http.Request) {
		var req apitype.SetOptionRequest
		json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		values = append(values, req.Value)
		mu.Unlock()
		if !p.waitPasses(3) {
			t.Error("the poller made no progress")
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(apitype.SetOptionResult{Option: opt})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), values...) }
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestSecretNotInProcessList replays the attack of the security review:
// a user (nobody) polling /proc/*/cmdline and /proc/*/environ while the
// operator sets sftp's password. Given as "-" and piped in, the poller
// never sees it; given as an argument (the control run, which proves the
// poller sees what there is to see), it does, and set-option warns.
func TestSecretNotInProcessList(t *testing.T) {
	testenv.RequireRoot(t, "the poller runs as nobody")
	prefix := "tspoll" + randomHex(t)
	p := startPoller(t, prefix)
	sock, got := secretAPI(t, p)
	run := func(value string, stdin string) (string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "--socket", sock, "set-option", "sftp", "password", value)
		cmd.Env = append(os.Environ(), mainEnv+"=1")
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("set-option sftp password %s: %v\n%s", value, err, errb.String())
		}
		return out.String(), errb.String()
	}

	secret := prefix + "-secret-" + randomHex(t)
	_, stderr := run("-", secret+"\n")
	if v := got(); len(v) != 1 || v[0] != secret {
		t.Fatalf("the daemon got %q, want the piped secret", v)
	}
	if strings.Contains(stderr, "warning") {
		t.Errorf("set-option warned about a secret given the safe way:\n%s", stderr)
	}
	if hits := p.saw(secret); len(hits) > 0 {
		t.Fatalf("nobody saw the secret given through -:\n%s", strings.Join(hits, "\n"))
	}

	marker := prefix + "-marker-" + randomHex(t)
	_, stderr = run(marker, "")
	if hits := p.saw(marker); len(hits) == 0 {
		t.Fatal("control run: the poller did not see a password given as an argument, so it proves nothing")
	}
	if !strings.Contains(stderr, "tails-server: warning: the value of password is a secret, and as an argument it shows to every user") ||
		!strings.Contains(stderr, "tails-server set-option sftp password -") {
		t.Errorf("a secret given as an argument: no warning suggesting -:\n%s", stderr)
	}
}

// TestSetOptionValueFromStdin: "-" reads one line (a text option: all
// lines); two lines, or nothing, are refused with one line saying so and
// nothing is set.
func TestSetOptionValueFromStdin(t *testing.T) {
	for _, tt := range []struct {
		typ, in, want, err string
	}{
		{"secret", "correct horse\n", "correct horse", ""},
		{"secret", "no newline", "no newline", ""},
		{"secret", "crlf\r\n", "crlf", ""},
		{"string", "-\n", "-", ""},
		{"text", "alice password-1\nbob password-2\n", "alice password-1\nbob password-2", ""},
		{"secret", "one\ntwo\n", "", "standard input holds more than one line"},
		{"secret", "", "", "standard input is empty"},
		{"secret", "\n", "", "standard input is empty"},
	} {
		e := &env{stdin: strings.NewReader(tt.in)}
		v, err := readValue(e, "sftp", apitype.Option{Name: "password", Type: tt.typ})
		switch {
		case tt.err == "" && (err != nil || v != tt.want):
			t.Errorf("%s %q: %q, %v; want %q", tt.typ, tt.in, v, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "\n")):
			t.Errorf("%s %q: %q, %v; want the one-line error %q", tt.typ, tt.in, v, err, tt.err)
		}
	}
}

// openPty returns a new pseudo-terminal's master and slave.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatal(e)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestSetOptionSecretTypedNotEchoed: on a terminal, "-" prompts and
// reads the secret with echo off: what the terminal shows holds the
// prompt and not the secret, and the daemon gets it.
func TestSetOptionSecretTypedNotEchoed(t *testing.T) {
	master, slave := openPty(t)
	var got []string
	var mu sync.Mutex
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	opt := apitype.Option{Name: "password", Type: "secret", Value: "********"}
	mux := http.NewServeMux()
	path := apitype.Version + "/services/sftp/options/password"
	mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(opt) })
	mux.HandleFunc("PUT "+path, func(w http.ResponseWriter, r *http.Request) {
		var req apitype.SetOptionRequest
		json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		got = append(got, req.Value)
		mu.Unlock()
		json.NewEncoder(w).Encode(apitype.SetOptionResult{Option: opt})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "--socket", sock, "set-option", "sftp", "password", "-")
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	cmd.Stdin, cmd.Stderr = slave, slave
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close() // the child holds it now: the master reads EOF when it exits
	var mu2 sync.Mutex
	var screen bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 1024)
		for {
			n, err := master.Read(buf)
			mu2.Lock()
			screen.Write(buf[:n])
			mu2.Unlock()
			if err != nil {
				return
			}
		}
	}()
	shown := func() string { mu2.Lock(); defer mu2.Unlock(); return screen.String() }
	for !strings.Contains(shown(), "(not shown as you type): ") {
		select {
		case <-ctx.Done():
			t.Fatalf("no prompt on the terminal: %q", shown())
		case <-time.After(20 * time.Millisecond):
		}
	}
	master.Write([]byte("hunter2-typed\n"))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("set-option: %v\n%s", err, shown())
	}
	<-read
	if !strings.Contains(shown(), "New value of sftp password (not shown as you type): ") {
		t.Errorf("terminal shows %q, want the prompt", shown())
	}
	if strings.Contains(shown(), "hunter2") {
		t.Errorf("the terminal echoed the secret: %q", shown())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != "hunter2-typed" {
		t.Errorf("the daemon got %q", got)
	}
}

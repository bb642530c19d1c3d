package testnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Tor is an extra tor joined to the network by Env.StartTor: a client with
// its own SocksPort and ControlPort, or whatever its extra torrc lines make
// of it. It is a child of the process that started it; Stop ends it.
type Tor struct {
	// Name is the name given to StartTor.
	Name string
	// Dir holds its torrc, notice.log and tor.pid: DIR/extra/<name>.
	Dir string
	// DataDir is its DataDirectory, Dir/data.
	DataDir string
	// SocksAddr is its SocksPort, "127.0.0.1:PORT".
	SocksAddr string
	// ControlAddr is its ControlPort, "127.0.0.1:PORT".
	ControlAddr string
	// CookiePath is the path of its control auth cookie.
	CookiePath string
	// PID is its process id.
	PID int

	proc *proc
	once sync.Once
	err  error
}

var torNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// StartTor starts a tor that joins the network, in DIR/extra/<name> (which
// must not hold a running tor; a stopped one's files are replaced), with
// the JoinTorrc lines, a SocksPort and a ControlPort on free ports of
// 127.0.0.1 (tor picks them: "auto"), cookie authentication, and the
// caller's extra torrc lines (for example "ClientOnionAuthDir /x"). It
// returns once that tor reports bootstrap 100% in its log; on failure or
// when ctx ends first, it stops the tor and returns an error quoting its
// log. The tor also exits by itself about 15 s after this process does
// (__OwningControllerProcess).
func (e *Env) StartTor(ctx context.Context, name string, extra []string) (*Tor, error) {
	return e.startExtra(ctx, name, extra, false, nil)
}

// startExtra is StartTor; with detach the tor runs in a session of its
// own and without __OwningControllerProcess, so that it outlives this
// process until Down stops it. It creates dirs (0700) in the tor's fresh
// directory before starting it.
func (e *Env) startExtra(ctx context.Context, name string, extra []string, detach bool, dirs []string) (*Tor, error) {
	if !torNameRE.MatchString(name) {
		return nil, fmt.Errorf("testnet: bad tor name %q (letters, digits, '.', '_' and '-', at most 100)", name)
	}
	for _, l := range extra {
		if strings.ContainsAny(l, "\n\r") {
			return nil, fmt.Errorf("testnet: extra torrc line %q holds a line break", l)
		}
	}
	torBin, err := e.torBinary()
	if err != nil {
		return nil, err
	}
	t := &Tor{Name: name, Dir: filepath.Join(e.Dir, extraDir, name)}
	t.DataDir = filepath.Join(t.Dir, "data")
	t.CookiePath = filepath.Join(t.DataDir, "control_auth_cookie")
	if pid, err := readPid(filepath.Join(t.Dir, pidFile)); err == nil && ourTor(pid, filepath.Join(t.Dir, torrcFile)) {
		return nil, fmt.Errorf("testnet: tor %s already runs (pid %d)", name, pid)
	}
	if err := os.RemoveAll(t.Dir); err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	for _, d := range append([]string{t.DataDir}, dirs...) {
		if err := os.MkdirAll(d, dirPerm); err != nil {
			return nil, fmt.Errorf("testnet: %w", err)
		}
	}
	lines := []string{
		fmt.Sprintf("# Extra tor %s joined to the private Tor network in %s; written by tails-server testnet.", name, e.Dir),
		strings.TrimRight(e.JoinTorrc, "\n"),
		"DataDirectory " + t.DataDir,
		"RunAsDaemon 0",
		"PidFile " + filepath.Join(t.Dir, pidFile),
		"Log notice file " + filepath.Join(t.Dir, noticeLog),
		"SocksPort 127.0.0.1:auto ExtendedErrors", // onion failures get their own SOCKS codes (0xF0-0xF7)
		"ControlPort 127.0.0.1:auto",
		"CookieAuthentication 1",
		"CookieAuthFile " + t.CookiePath,
	}
	if !detach {
		lines = append(lines, fmt.Sprintf("__OwningControllerProcess %d", os.Getpid()))
	}
	lines = append(lines, extra...)
	if err := writeFileAtomic(filepath.Join(t.Dir, torrcFile), []byte(strings.Join(lines, "\n")+"\n"), filePerm); err != nil {
		return nil, err
	}
	p, err := startTor(torBin, name, t.Dir, detach)
	if err != nil {
		return nil, err
	}
	t.proc, t.PID = p, p.cmd.Process.Pid
	if err := t.waitBootstrap(ctx); err != nil {
		p.stop()
		return nil, err
	}
	return t, nil
}

// waitBootstrap follows t's log until it has both listeners and reports
// bootstrap 100%.
func (t *Tor) waitBootstrap(ctx context.Context) error {
	follow := &logFollower{path: filepath.Join(t.Dir, noticeLog)}
	state := "not bootstrapped"
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	done := false
	for {
		for _, line := range follow.next() {
			if m := listenerRE.FindStringSubmatch(line); m != nil {
				if m[1] == "Socks" {
					t.SocksAddr = m[2]
				} else {
					t.ControlAddr = m[2]
				}
			}
			if pct, text, ok := bootstrapLine(line); ok {
				state = text
				done = done || pct == 100
			}
		}
		if done && t.SocksAddr != "" && t.ControlAddr != "" {
			return nil
		}
		if t.proc.exited() {
			return t.proc.exitError()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testnet: tor %s not bootstrapped (%s): %w%s", t.Name, state, ctx.Err(), quoteLog(t.Dir))
		case <-tick.C:
		}
	}
}

// Stop ends the tor (SIGTERM, then SIGKILL after 10 s) and waits for it.
// Calling it again returns the first result.
func (t *Tor) Stop() error {
	t.once.Do(func() { t.err = t.proc.stop() })
	return t.err
}

// torBinary is the tor that runs the network, or "tor" from PATH.
func (e *Env) torBinary() (string, error) {
	if e.TorBinary != "" {
		return e.TorBinary, nil
	}
	p, err := exec.LookPath("tor")
	if err != nil {
		return "", errors.New("testnet: tor not found in PATH")
	}
	return p, nil
}

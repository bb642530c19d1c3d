package tor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// LaunchOptions says how to start a tor of our own.
type LaunchOptions struct {
	Binary  string   // the tor program; default "tor" (looked up in PATH)
	DataDir string   // tor's DataDirectory, created (mode 0700) if missing; required
	Torrc   []string // extra torrc lines, written before the launcher's own
	LogPath string   // tor's notice log; default DataDir/notice.log
}

// launcherOptions are the options Launch sets and the extra lines may not
// (list options such as ControlPort would add to ours, not replace them).
var launcherOptions = map[string]bool{
	"datadirectory":             true,
	"controlport":               true,
	"controlportwritetofile":    true,
	"cookieauthentication":      true,
	"cookieauthfile":            true,
	"__owningcontrollerprocess": true,
}

// Process is a tor started by Launch.
type Process struct {
	Cmd         *exec.Cmd
	ControlAddr string // "127.0.0.1:PORT" of the control port
	CookiePath  string // the control cookie (CookieAuthentication 1)
	DataDir     string
	LogPath     string
	TorrcPath   string // DataDir/torrc

	exited  chan struct{}
	waitErr error // set before exited is closed
	output  *tailBuffer
	stop    sync.Once
}

// Launch starts tor and waits, bounded by ctx, until its control port is
// listening. It writes DataDir/torrc (mode 0600): the extra lines, then
// DataDirectory, ControlPort 127.0.0.1:auto (written to
// DataDir/control-port), CookieAuthentication 1, CookieAuthFile, the
// notice log, empty GeoIP files and __OwningControllerProcess (so tor
// exits when this process dies). It runs `tor --defaults-torrc /dev/null
// -f DataDir/torrc --ignore-missing-torrc` in its own process group. If
// tor exits early, the error quotes the end of its log.
//
// Extra lines may not set the options listed above that the launcher
// owns (DataDirectory, ControlPort, ControlPortWriteToFile,
// CookieAuthentication, CookieAuthFile, __OwningControllerProcess); they
// may add Log lines. Give tests `DisableNetwork 1` and `SocksPort 0`:
// nothing here stops tor from reaching the network.
func Launch(ctx context.Context, opts LaunchOptions) (*Process, error) {
	bin, err := findTor(opts.Binary)
	if err != nil {
		return nil, err
	}
	if opts.DataDir == "" {
		return nil, errors.New("tor: launch: no data directory given")
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("tor: launch: %w", err)
	}
	logPath := opts.LogPath
	if logPath == "" {
		logPath = filepath.Join(dataDir, "notice.log")
	}
	if logPath, err = filepath.Abs(logPath); err != nil {
		return nil, fmt.Errorf("tor: launch: %w", err)
	}
	p := &Process{
		ControlAddr: "",
		CookiePath:  filepath.Join(dataDir, "control_auth_cookie"),
		DataDir:     dataDir,
		LogPath:     logPath,
		TorrcPath:   filepath.Join(dataDir, "torrc"),
		exited:      make(chan struct{}),
		output:      &tailBuffer{max: 16 << 10},
	}
	portFile := filepath.Join(dataDir, "control-port")
	for name, path := range map[string]string{"data directory": dataDir, "log path": logPath} {
		if strings.ContainsAny(path, " \t\"\\#\r\n\x00") {
			return nil, fmt.Errorf("tor: launch: %s %q holds white space, a quote, a backslash or '#', which torrc cannot take", name, path)
		}
	}
	lines := append([]string(nil), opts.Torrc...)
	lines = append(lines,
		"DataDirectory "+dataDir,
		"ControlPort 127.0.0.1:auto",
		"ControlPortWriteToFile "+portFile,
		"CookieAuthentication 1",
		"CookieAuthFile "+p.CookiePath,
		"Log notice file "+logPath,
		"GeoIPFile /dev/null",
		"GeoIPv6File /dev/null",
		"__OwningControllerProcess "+strconv.Itoa(os.Getpid()),
	)
	for i, l := range lines {
		if strings.ContainsAny(l, "\r\n\x00") {
			return nil, fmt.Errorf("tor: launch: torrc line %d holds CR, LF or NUL", i+1)
		}
		if i < len(opts.Torrc) {
			opt, _, _ := strings.Cut(strings.TrimSpace(l), " ")
			if launcherOptions[strings.ToLower(opt)] {
				return nil, fmt.Errorf("tor: launch: torrc line %d sets %s, which the launcher sets itself", i+1, opt)
			}
		}
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("tor: launch: %w", err)
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("tor: launch: %w", err)
	}
	if err := os.WriteFile(p.TorrcPath, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("tor: launch: writing torrc: %w", err)
	}
	// A port file left by an earlier tor would send us to a dead port.
	if err := os.Remove(portFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tor: launch: %w", err)
	}
	logStart := fileSize(logPath)

	cmd := exec.Command(bin, "--defaults-torrc", "/dev/null", "-f", p.TorrcPath, "--ignore-missing-torrc")
	cmd.Dir = dataDir
	cmd.Stdout = p.output
	cmd.Stderr = p.output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.Cmd = cmd
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("tor: launch: %w", err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if addr, ok := readPortFile(portFile); ok {
			p.ControlAddr = addr
			return p, nil
		}
		select {
		case <-p.exited:
			why := ""
			// What tor says before it opens its log file (a port it
			// cannot bind, for one) goes to its standard output.
			if c := launchProblem(p.output.String() + "\n" + p.logSince(logStart)); c != "" {
				why = ": " + c
			}
			return nil, fmt.Errorf("tor exited during start-up (%v)%s; its last log lines:\n%s", p.waitErr, why, p.lastLog(logStart, 10))
		case <-ctx.Done():
			p.Stop()
			return nil, fmt.Errorf("tor: launch: waiting for the control port: %w; tor's last log lines:\n%s", ctx.Err(), p.lastLog(logStart, 10))
		case <-tick.C:
		}
	}
}

// readPortFile reads ControlPortWriteToFile's "PORT=127.0.0.1:NNNN" line.
func readPortFile(path string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
		return "", false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if a, ok := strings.CutPrefix(strings.TrimSpace(l), "PORT="); ok && a != "" {
			return a, true
		}
	}
	return "", false
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSince returns what tor logged since offset start (or, if the log is
// empty, what it printed).
func (p *Process) logSince(start int64) string {
	var text string
	if b, err := os.ReadFile(p.LogPath); err == nil && int64(len(b)) > start {
		text = string(b[start:])
	}
	if strings.TrimSpace(text) == "" {
		text = p.output.String()
	}
	return text
}

// launchProblem returns the message of the warning or error in tor's log
// that says what went wrong, "" if there is none. Tor ends a failed start
// with general lines ("Failed to parse/validate config: ...", "Reading
// config failed"), after the specific one: the last specific warning wins,
// else the general line's own words; those about running as root, logging
// or an option given twice are never the cause.
func launchProblem(log string) string {
	var specific, general string
	for _, l := range strings.Split(log, "\n") {
		i := strings.Index(l, "[warn] ")
		if i < 0 {
			i = strings.Index(l, "[err] ")
		}
		if i < 0 {
			continue
		}
		msg := strings.TrimSpace(l[strings.Index(l[i:], "] ")+i+2:])
		switch {
		case msg == "",
			strings.HasPrefix(msg, "Reading config failed"),
			strings.HasPrefix(msg, "You are running Tor as root"),
			strings.HasPrefix(msg, "Your log may contain sensitive information"),
			strings.HasPrefix(msg, "You have used DirAuthority"),
			strings.Contains(msg, "used more than once"):
		case strings.HasPrefix(msg, "Failed to parse/validate config"):
			if general == "" {
				general = msg
			}
		default:
			specific = msg
		}
	}
	if specific != "" {
		return specific
	}
	return general
}

// lastLog returns the last n lines tor logged since offset start (or, if
// the log is empty, of what it printed).
func (p *Process) lastLog(start int64, n int) string {
	text := p.logSince(start)
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// Stop stops tor: SIGTERM, then SIGKILL to its process group if it has
// not exited after 5 seconds. It waits for tor to exit and returns nil
// when tor exited by the signal or by itself.
func (p *Process) Stop() error {
	p.stop.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
	})
	<-p.exited
	return nil
}

// Wait waits for tor to exit and returns how it exited (exec.Cmd.Wait's
// error).
func (p *Process) Wait() error {
	<-p.exited
	return p.waitErr
}

// Exited returns a channel closed when tor has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// errNotFound is the one-line error for a missing tor.
var errNotFound = errors.New("tor not found: install Debian's tor (apt-get install tor)")

func findTor(binary string) (string, error) {
	if binary == "" {
		binary = "tor"
	}
	p, err := exec.LookPath(binary)
	if err != nil {
		return "", errNotFound
	}
	return p, nil
}

var reVersion = regexp.MustCompile(`Tor version ([0-9]+(?:\.[0-9]+)+)`)

// Version runs `tor --version` and returns tor's version, e.g.
// "0.4.9.11". binary "" means "tor" in PATH.
func Version(binary string) (string, error) {
	bin, err := findTor(binary)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("tor: running %s --version: %w", bin, err)
	}
	m := reVersion.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("tor: %s --version printed no version", bin)
	}
	return string(m[1]), nil
}

// CheckVersion checks that tor is at least version min (e.g. "0.4.8").
func CheckVersion(binary string, min string) error {
	v, err := Version(binary)
	if err != nil {
		return err
	}
	if compareVersions(v, min) < 0 {
		return fmt.Errorf("tor %s is too old: tails-server needs tor %s or newer (apt-get install tor)", v, min)
	}
	return nil
}

// compareVersions compares dotted version numbers numerically; missing
// parts count as 0 and anything after a '-' is ignored.
func compareVersions(a, b string) int {
	pa, pb := versionParts(a), versionParts(b)
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y int
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func versionParts(v string) []int {
	v, _, _ = strings.Cut(v, "-")
	var out []int
	for _, f := range strings.Split(v, ".") {
		n, _ := strconv.Atoi(f)
		out = append(out, n)
	}
	return out
}

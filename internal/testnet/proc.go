package testnet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tails-server/internal/freeport"
	"tails-server/internal/store"
)

const (
	stopGrace = 10 * time.Second // SIGTERM to SIGKILL
	killGrace = 5 * time.Second  // SIGKILL to giving up
	tailLines = 15               // lines of a log quoted in errors
	pidFile   = "tor.pid"
	torrcFile = "torrc"
	noticeLog = "notice.log"
	stdoutLog = "stdout.log"
)

// proc is a tor this process started.
type proc struct {
	name    string
	dir     string // node directory: torrc, logs, pid file
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process is reaped
	waitErr error         // valid after done
}

// startTor runs tor -f dir/torrc with its output in dir/stdout.log and
// records its pid in dir/tor.pid. With detach, tor gets its own session so
// that it outlives this process. The process is reaped by a goroutine.
func startTor(bin, name, dir string, detach bool) (*proc, error) {
	torrc := filepath.Join(dir, torrcFile)
	out, err := os.OpenFile(filepath.Join(dir, stdoutLog), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own copy
	defaults, err := emptyDefaults(dir)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-f", torrc, "--defaults-torrc", defaults)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	if detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testnet: starting tor %s: %w", name, err)
	}
	p := &proc{name: name, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if err := writeFileAtomic(filepath.Join(dir, pidFile), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitError describes p's early exit, quoting its log.
func (p *proc) exitError() error {
	<-p.done
	how := "exited"
	if p.waitErr != nil {
		how = "exited: " + p.waitErr.Error()
	}
	return fmt.Errorf("testnet: tor %s %s%s", p.name, how, quoteLog(p.dir))
}

// stop ends p: SIGTERM, then SIGKILL after stopGrace.
func (p *proc) stop() error { return stopProcs([]*proc{p}) }

// stopProcs ends the given children, all at once.
func stopProcs(ps []*proc) error {
	for _, p := range ps {
		if !p.exited() {
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	var errs []error
	for _, p := range ps {
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			p.cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(killGrace):
				errs = append(errs, fmt.Errorf("testnet: tor %s (pid %d) did not exit", p.name, p.cmd.Process.Pid))
				continue
			}
		}
		os.Remove(filepath.Join(p.dir, pidFile))
	}
	return errors.Join(errs...)
}

// quoteLog returns "; last lines of PATH:\n    line..." for the node in
// dir: its notice log, or its standard output when tor did not get as far
// as opening the log (configuration errors).
func quoteLog(dir string) string {
	for _, name := range []string{noticeLog, stdoutLog} {
		path := filepath.Join(dir, name)
		lines := tail(path, tailLines)
		if len(lines) == 0 {
			continue
		}
		return fmt.Sprintf("; last lines of %s:\n    %s", path, strings.Join(lines, "\n    "))
	}
	return fmt.Sprintf(" (no log in %s)", dir)
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	const maxRead = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > maxRead {
		f.Seek(st.Size()-maxRead, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// logFollower reads the lines appended to a log file since the last call.
type logFollower struct {
	path    string
	off     int64
	partial []byte
}

// next returns the complete lines written since the last call.
func (f *logFollower) next() []string {
	fh, err := os.Open(f.path)
	if err != nil {
		return nil
	}
	defer fh.Close()
	if _, err := fh.Seek(f.off, io.SeekStart); err != nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(fh, 1<<20))
	f.off += int64(len(b))
	b = append(f.partial, b...)
	i := bytes.LastIndexByte(b, '\n')
	if i < 0 {
		f.partial = b
		return nil
	}
	f.partial = append([]byte(nil), b[i+1:]...)
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b[:i+1]))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

var (
	bootstrapRE = regexp.MustCompile(`Bootstrapped (\d+)% \(([^)]*)\): (.*)$`)
	listenerRE  = regexp.MustCompile(`Opened (Socks|Control) listener connection \(ready\) on (127\.0\.0\.1:\d+)`)
)

// bootstrapLine parses a "Bootstrapped NN% (tag): summary" log line.
func bootstrapLine(line string) (pct int, progress string, ok bool) {
	m := bootstrapRE.FindStringSubmatch(line)
	if m == nil {
		return 0, "", false
	}
	pct, _ = strconv.Atoi(m[1])
	return pct, fmt.Sprintf("bootstrap %s%% (%s): %s", m[1], m[2], m[3]), true
}

// ourTor reports whether pid is a live tor (not a zombie) whose command
// line reads "-f torrc".
func ourTor(pid int, torrc string) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "tor") {
		return false
	}
	for i := 1; i+1 < len(args); i++ {
		if args[i] == "-f" && args[i+1] == torrc {
			return true
		}
	}
	return false
}

// emptyDefaults creates dir/torrc-defaults, empty, so that no system-wide
// defaults apply (tor refuses /dev/null as a torrc), and returns its path.
func emptyDefaults(dir string) (string, error) {
	path := filepath.Join(dir, "torrc-defaults")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	return path, nil
}

// readPid reads a pid file.
func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("testnet: malformed pid file %s", path)
	}
	return pid, nil
}

// writeFileAtomic is store.WriteFile with the error saying what was written.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := store.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("testnet: writing %s: %w", path, err)
	}
	return nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ps, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return ps[0], nil
}

// freePorts returns n distinct free ports on 127.0.0.1 (freeport.Pick).
func freePorts(n int) ([]int, error) {
	ps, err := freeport.Pick(n)
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	return ps, nil
}

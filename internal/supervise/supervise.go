// Package supervise runs a service backend as a child process of the
// daemon: it starts it in its own process group, restarts it with backoff
// whenever it exits, keeps its recent output in memory and in a log file,
// and stops it (SIGTERM, then SIGKILL) on request. It needs no init system.
package supervise

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Spec says what to run.
type Spec struct {
	// Name identifies the process in logs.
	Name string
	// Argv is the program and its arguments; never a shell string.
	Argv []string
	// Env is the environment (KEY=VALUE); nil means an empty one plus PATH.
	Env []string
	// Dir is the working directory.
	Dir string
	// Credential, when set, runs the process as another user.
	Credential *syscall.Credential
	// LogPath, when set, receives the process's output (appended; rotated
	// to LogPath.1 past MaxLogBytes).
	LogPath string
	// MinBackoff and MaxBackoff bound the wait before a restart
	// (defaults 500 ms and 30 s). A process that ran for a minute or more
	// restarts after MinBackoff again.
	MinBackoff, MaxBackoff time.Duration
	// OnExit, when set, is told (in a goroutine of its own) how the
	// process exited, each time it exits by itself; OnRestart each time
	// the supervisor started it again. A Stop tells neither.
	OnExit    func(p *Process, how string)
	OnRestart func(p *Process)
}

// MaxLogBytes is the size past which the log file is rotated.
const MaxLogBytes = 1 << 20

// keepLines is how many output lines stay in memory.
const keepLines = 500

// Status is what is known of the process now.
type Status struct {
	Running  bool      `json:"running" yaml:"running"`
	PID      int       `json:"pid,omitempty" yaml:"pid,omitempty"`
	Restarts int       `json:"restarts" yaml:"restarts"`
	Started  time.Time `json:"started,omitempty" yaml:"started,omitempty"`
	// LastExit says how the previous run ended.
	LastExit string `json:"last_exit,omitempty" yaml:"last_exit,omitempty"`
}

// Process is a supervised child.
type Process struct {
	spec Spec
	log  *slog.Logger

	mu       sync.Mutex
	cmd      *exec.Cmd
	status   Status
	lines    []string
	follow   map[chan string]struct{}
	logFile  *os.File
	logBytes int64

	cancel context.CancelFunc
	done   chan struct{}
}

// Start starts the process and its supervision. It returns an error if
// the first start fails (for example: no such program).
func Start(spec Spec, log *slog.Logger) (*Process, error) {
	if len(spec.Argv) == 0 {
		return nil, errors.New("supervise: empty command")
	}
	if spec.MinBackoff <= 0 {
		spec.MinBackoff = 500 * time.Millisecond
	}
	if spec.MaxBackoff <= 0 {
		spec.MaxBackoff = 30 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	p := &Process{spec: spec, log: log, follow: map[chan string]struct{}{}, done: make(chan struct{})}
	if spec.LogPath != "" {
		f, err := os.OpenFile(spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, fmt.Errorf("supervise %s: log file: %w", spec.Name, err)
		}
		fi, _ := f.Stat()
		p.logFile, p.logBytes = f, fi.Size()
	}
	exited, err := p.run()
	if err != nil {
		p.closeLog()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.loop(ctx, exited)
	return p, nil
}

// orphanOutputWait bounds how long output is still read after the program
// exited and its group was killed.
const orphanOutputWait = 2 * time.Second

// run starts one instance; the returned channel gets its exit error.
func (p *Process) run() (<-chan error, error) {
	cmd := exec.Command(p.spec.Argv[0], p.spec.Argv[1:]...)
	cmd.Dir = p.spec.Dir
	cmd.Env = p.spec.Env
	if cmd.Env == nil {
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: p.spec.Credential, Pdeathsig: syscall.SIGTERM}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("supervise %s: starting %s: %w", p.spec.Name, p.spec.Argv[0], err)
	}
	pw.Close()
	p.mu.Lock()
	p.cmd = cmd
	p.status.Running, p.status.PID, p.status.Started = true, cmd.Process.Pid, time.Now()
	p.mu.Unlock()

	copied := make(chan struct{})
	go func() {
		defer close(copied)
		p.copyOutput(pr)
	}()
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		// What is left of the group (a forking server's workers, which
		// a SIGKILL of their master orphans) still holds the output pipe
		// and maybe the listening socket: it must not outlive the
		// program, or the restart could neither bind nor be seen, since
		// the copy below would wait for the orphans' end.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-copied:
		case <-time.After(orphanOutputWait):
			// A process that left the group keeps the pipe: stop reading.
		}
		pr.Close()
		<-copied
		exited <- err
	}()
	return exited, nil
}

func (p *Process) loop(ctx context.Context, exited <-chan error) {
	defer close(p.done)
	defer p.closeLog()
	backoff := p.spec.MinBackoff
	for {
		var err error
		select {
		case err = <-exited:
		case <-ctx.Done():
			p.terminate(exited)
			return
		}
		p.mu.Lock()
		ran := time.Since(p.status.Started)
		p.status.Running, p.status.PID = false, 0
		p.status.LastExit = describeExit(err)
		p.mu.Unlock()
		p.log.Warn("backend exited", "service", p.spec.Name, "how", describeExit(err))
		if p.spec.OnExit != nil {
			go p.spec.OnExit(p, describeExit(err))
		}
		if ran >= time.Minute {
			backoff = p.spec.MinBackoff
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, p.spec.MaxBackoff)
		for {
			exited, err = p.run()
			if err == nil {
				break
			}
			p.log.Warn("backend restart failed", "service", p.spec.Name, "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, p.spec.MaxBackoff)
		}
		p.mu.Lock()
		p.status.Restarts++
		p.mu.Unlock()
		if p.spec.OnRestart != nil {
			go p.spec.OnRestart(p)
		}
	}
}

// terminate stops the running instance: SIGTERM to its process group, then
// SIGKILL after 5 s.
func (p *Process) terminate(exited <-chan error) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	p.mu.Lock()
	p.status.Running, p.status.PID = false, 0
	p.mu.Unlock()
}

// Stop stops the process and its supervision, and waits for both.
func (p *Process) Stop() {
	p.cancel()
	<-p.done
}

// Status returns the process's status.
func (p *Process) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// Logs returns the last n lines of output (all kept lines if n <= 0).
func (p *Process) Logs(n int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n <= 0 || n > len(p.lines) {
		n = len(p.lines)
	}
	return append([]string(nil), p.lines[len(p.lines)-n:]...)
}

// Follow returns a channel of new output lines until ctx ends. Lines are
// dropped for a follower that does not keep up.
func (p *Process) Follow(ctx context.Context) <-chan string {
	ch := make(chan string, 256)
	p.mu.Lock()
	p.follow[ch] = struct{}{}
	p.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-p.done:
		}
		p.mu.Lock()
		delete(p.follow, ch)
		p.mu.Unlock()
		close(ch)
	}()
	return ch
}

func (p *Process) copyOutput(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		p.addLine(sc.Text())
	}
	// A line over the buffer ends the scan: keep the pipe drained so that
	// the program never blocks on its output.
	io.Copy(io.Discard, r)
}

func (p *Process) addLine(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, line)
	if len(p.lines) > keepLines {
		p.lines = append(p.lines[:0:0], p.lines[len(p.lines)-keepLines:]...)
	}
	for ch := range p.follow {
		select {
		case ch <- line:
		default:
		}
	}
	if p.logFile != nil {
		n, _ := p.logFile.WriteString(line + "\n")
		p.logBytes += int64(n)
		if p.logBytes > MaxLogBytes {
			p.rotate()
		}
	}
}

// rotate moves the log file to LogPath.1 and starts a new one. Call with
// p.mu held.
func (p *Process) rotate() {
	p.logFile.Close()
	os.Rename(p.spec.LogPath, p.spec.LogPath+".1")
	f, err := os.OpenFile(p.spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		p.logFile = nil
		return
	}
	p.logFile, p.logBytes = f, 0
}

func (p *Process) closeLog() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logFile != nil {
		p.logFile.Close()
		p.logFile = nil
	}
}

func describeExit(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by signal " + ws.Signal().String()
		}
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	if err != nil {
		return err.Error()
	}
	return "exit status 0"
}

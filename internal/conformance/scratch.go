package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"tails-server/internal/client"
)

// scratch is the run's own daemon: its state, volatile root, socket,
// catalog dir and log, all under one directory, on the private network.
type scratch struct {
	bin      string // the tails-server binary
	netDir   string // the private network's directory
	dir      string
	state    string
	volatile string
	socket   string
	catalog  string
	logPath  string

	cmd  *exec.Cmd
	done chan struct{}
	api  *client.Client
}

func newScratch(bin, netDir, dir string) *scratch {
	return &scratch{
		bin: bin, netDir: netDir, dir: dir,
		state:    filepath.Join(dir, "state"),
		volatile: filepath.Join(dir, "volatile"),
		socket:   filepath.Join(dir, "api.sock"),
		catalog:  filepath.Join(dir, "catalog.d"),
		logPath:  filepath.Join(dir, "daemon.log"),
		api:      client.New(filepath.Join(dir, "api.sock")),
	}
}

// firewallTable names the scratch daemon's own nftables table after its
// directory, so that it never touches the host daemon's.
func (s *scratch) firewallTable() string {
	sum := sha256.Sum256([]byte(s.dir))
	return "tscheck_" + hex.EncodeToString(sum[:6])
}

// start runs the daemon and returns once its API answers.
func (s *scratch) start(ctx context.Context) error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.cmd = exec.Command(s.bin, "daemon", "--state", s.state, "--volatile-dir", s.volatile,
		"--network", "testnet", "--testnet-dir", s.netDir, "--socket", s.socket,
		"--catalog", s.catalog, "--no-builtin-catalog", "--firewall-table", s.firewallTable(),
		"--gui-listen", "off", "--check-interval", "30s")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// The daemon ends with the run, even when the run is killed.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("starting the scratch daemon: %v", err)
	}
	s.done = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.done) }()
	err = retry(ctx, 60*time.Second, func() error {
		select {
		case <-s.done:
			return fmt.Errorf("%w: the scratch daemon exited (%s): %s", errStop, s.cmd.ProcessState, s.logTail(3))
		default:
		}
		_, err := s.api.Daemon(ctx)
		return err
	})
	if err != nil {
		s.stop()
		return fmt.Errorf("the scratch daemon's API: %v", err)
	}
	return nil
}

// alive says whether the daemon still runs.
func (s *scratch) alive() error {
	if s.done == nil {
		return fmt.Errorf("%w: the scratch daemon is not running", errStop)
	}
	select {
	case <-s.done:
		return fmt.Errorf("%w: the scratch daemon exited (%s): %s", errStop, s.cmd.ProcessState, s.logTail(3))
	default:
		return nil
	}
}

// stop ends the daemon with SIGTERM (SIGKILL after 30 s).
func (s *scratch) stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return errors.New("the scratch daemon did not stop within 30 s of SIGTERM")
	}
}

// reboot simulates a reboot: the daemon stops, the volatile root (a
// tmpfs on a real system) is wiped, the daemon starts again.
func (s *scratch) reboot(ctx context.Context) error {
	if err := s.stop(); err != nil {
		return err
	}
	if err := os.RemoveAll(s.volatile); err != nil {
		return err
	}
	return s.start(ctx)
}

// logTail is the last n lines of the daemon's log, on one line.
func (s *scratch) logTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return oneLine(strings.Join(lines, " | "))
}

// lastExit is how the service's backend last exited, from the daemon's
// log ("exit status 3"), or "": the API reports no backend after a start
// that failed.
func (s *scratch) lastExit(service string) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	how := ""
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.Contains(l, `msg="backend exited"`) || !strings.Contains(l, " service="+service+" ") {
			continue
		}
		if _, v, ok := strings.Cut(l, ` how="`); ok {
			how, _, _ = strings.Cut(v, `"`)
		}
	}
	return how
}

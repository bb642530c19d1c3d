package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// windowProgram is the desktop window's program (cmd/tails-server-gui),
// looked for next to this binary, then in PATH.
const windowProgram = "tails-server-gui"

// guiWindow is what `tails-server gui` prints when it opened the window.
type guiWindow struct {
	Window string `json:"window" yaml:"window"`
	PID    int    `json:"pid" yaml:"pid"`
}

// findWindow returns the window program's path, "" when there is none.
func findWindow() string {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), windowProgram)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	p, _ := exec.LookPath(windowProgram)
	return p
}

// openWindow starts the window program on the daemon's socket, detached
// from this command; an error says why it cannot run (WebKitGTK missing:
// its --version fails to load the library).
func openWindow(e *env, prog string) (int, error) {
	if err := checkWindow(e.ctx, prog); err != nil {
		return 0, err
	}
	cmd := exec.Command(prog, "--socket", e.client().Socket)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	pid := cmd.Process.Pid
	go cmd.Wait()
	return pid, nil
}

// checkWindow runs the window program's --version: it fails when the
// dynamic loader cannot find WebKitGTK.
func checkWindow(ctx context.Context, prog string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, prog, "--version").CombinedOutput()
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(string(out))
	if strings.Contains(msg, "libwebkit2gtk") || strings.Contains(msg, "libjavascriptcoregtk") {
		return errors.New("WebKitGTK is missing (install Debian's libwebkit2gtk-4.1-0)")
	}
	if msg == "" {
		msg = err.Error()
	}
	return fmt.Errorf("%s does not start: %s", prog, firstLine(msg))
}

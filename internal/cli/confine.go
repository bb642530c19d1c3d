package cli

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"tails-server/internal/apitype"
	"tails-server/internal/isolation"
)

// isolationRunConfined has the daemon run the command in the app's
// namespace, as this user, with this process's stdin, stdout and stderr
// (passed over the API socket), and ends with the command's exit status.
// Signals sent to this process (Ctrl-C included: the command is not in
// the terminal's process group) are forwarded.
func isolationRunConfined(e *env, req apitype.ConfineRun) error {
	if req.IsolateKey != "" {
		if err := isolation.CheckIsolateKey(req.IsolateKey); err != nil {
			return usageErr("%v", err)
		}
	}
	req.Env = os.Environ()
	if wd, err := os.Getwd(); err == nil {
		req.Dir = wd
	}
	out, ok := e.stdout.(*os.File)
	if !ok {
		out = os.Stdout
	}
	errf, ok := e.stderr.(*os.File)
	if !ok {
		errf = os.Stderr
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	run, err := e.client().RunConfined(e.ctx, req, [3]*os.File{os.Stdin, out, errf})
	if err != nil {
		return fmt.Errorf("isolation run --confine: %w", err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				run.Signal(s.(syscall.Signal))
			case <-done:
				return
			}
		}
	}()
	code, err := run.Wait()
	if err != nil {
		return &exitError{code: ExitFailure, err: fmt.Errorf("isolation run --confine: %w", err)}
	}
	if code != 0 {
		return exitCode(code)
	}
	return nil
}

package daemon

import (
	"log/slog"
	"os"
	"syscall"
)

// FaultEnv names a point at which the daemon kills itself with SIGKILL,
// for the crash tests only (internal/e2e/move_crash_test.go): a named
// point of a persistence move, such as persistence-move:copied (the
// store.Fault* constants). Nothing else reads it, and a user has no use
// for it.
const FaultEnv = "TAILS_SERVER_FAULT"

// faultHook returns the hook that kills the daemon at the point FaultEnv
// names, or nil.
func faultHook(log *slog.Logger) func(point string) {
	want := os.Getenv(FaultEnv)
	if want == "" {
		return nil
	}
	log.Warn("fault injection is on: the daemon kills itself at a named point (tests only)", "point", want)
	return func(point string) {
		if point == want {
			log.Warn("fault injection: killing the daemon", "point", point)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
}

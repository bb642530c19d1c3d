package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"tails-server/internal/catalog"
	"tails-server/internal/conformance"
)

// runCheck is `check DESCRIPTION.yaml`: the conformance run of one
// service description on a scratch daemon of its own (see
// internal/conformance). It is no client of a running daemon. Exit 0 when
// every trial passed, 1 when one failed, 2 for a description that does
// not load. With -o json it prints the report whole at the end (the same
// results), instead of a line per trial as they come.
func runCheck(e *env, args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	netDir := fs.String("network-dir", "", "the directory of a running private network (testnet up --dir DIR); default: start one and stop it after")
	keep := fs.Bool("keep", false, "keep the scratch directory (the daemon's log, state and catalog) and print its path")
	wait := fs.Duration("wait", conformance.DefaultWait, "how long each proof through the onion may take")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if err := wantArgs("check", pos, 1, "one description file, NAME.yaml"); err != nil {
		return err
	}
	if *wait <= 0 {
		return usageErr("--wait must be a positive duration, like 120s")
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	out := e.stdout
	if e.output == "json" {
		out = io.Discard // the report, whole, at the end
	}
	rep, err := conformance.Run(ctx, conformance.Options{
		File: pos[0], NetworkDir: *netDir, Keep: *keep, Binary: bin,
		Wait: *wait, Out: out, Log: e.stderr,
	})
	var bad *conformance.BadInputError
	switch {
	case errors.As(err, &bad):
		hint := "fix that line of the description (its format: docs/services.md)"
		var le *catalog.LoadError
		if !errors.As(bad, &le) || le.Line == 0 {
			hint = "give the path of a readable NAME.yaml description (its format: docs/services.md)"
		}
		if bad.More > 0 {
			hint += fmt.Sprintf("; %d more problem(s) after it", bad.More)
		}
		return &exitError{code: ExitUsage, err: bad, hint: hint}
	case errors.Is(err, context.Canceled):
		return errors.New("check interrupted; the scratch daemon and its tors were stopped")
	case err != nil:
		return fmt.Errorf("check: %v", err)
	}
	if e.output == "json" {
		if err := e.print(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(e.stdout, rep.Summary())
	}
	if !rep.OK() {
		return exitCode(ExitFailure)
	}
	return nil
}

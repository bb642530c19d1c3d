// Package conformance runs one service description through the trials
// every hosted service must pass (what `tails-server check DESCRIPTION.yaml`
// prints): on a scratch daemon of its own (its state, volatile root,
// socket and a catalog dir holding only that description) on a private Tor
// network, it enables the service (install, render, start, health check,
// publish), proves it through the onion with the description's probe from
// an independent client tor, then kills the backend with SIGKILL, sets
// every option to a valid and an invalid value, sets every free-text
// option to hostile values, disables and enables it, and turns persistence
// on and off across a simulated reboot. Each trial gives one line; the
// run passes when no trial failed.
//
// The run is a client of the scratch daemon's API (internal/client), as
// the CLI is; it reaches the onion through a tor of its own joined to the
// network (internal/testnet), given the credential over its control port
// (internal/tor).
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"tails-server/internal/catalog"
	"tails-server/internal/testnet"
	"tails-server/internal/tor"
)

// DefaultWait is Options.Wait when not set.
const DefaultWait = 120 * time.Second

// Options configure Run.
type Options struct {
	// File is the description, NAME.yaml, with the files it names next
	// to it. Required.
	File string
	// NetworkDir is a running private network (`tails-server testnet up
	// --dir DIR`); empty: Run starts one of its own and stops it at the
	// end.
	NetworkDir string
	// Keep leaves the scratch directory (the daemon's state, log and
	// catalog) in place and names it on Log.
	Keep bool
	// Binary is the tails-server binary the scratch daemon runs.
	// Required.
	Binary string
	// Wait bounds each proof through the onion, and how long enable
	// waits for the daemon's own self-check (DefaultWait).
	Wait time.Duration
	// Out receives one line per trial; Log the notes around them.
	Out, Log io.Writer
}

// BadInputError is a description that cannot be checked: the first of its
// problems (a *catalog.LoadError, "FILE:LINE: what is wrong"), and how
// many more there are.
type BadInputError struct {
	Err  error
	More int
}

func (e *BadInputError) Error() string { return e.Err.Error() }
func (e *BadInputError) Unwrap() error { return e.Err }

// Run checks the description and returns the report. Its error is a
// *BadInputError for a description that does not load, or a failure to
// set the run up (no network, no daemon); a failed trial is in the
// report, not an error.
func Run(ctx context.Context, o Options) (rep *Report, err error) {
	start := time.Now()
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	svc, errs := catalog.LoadFile(o.File)
	if len(errs) > 0 {
		return nil, &BadInputError{Err: errs[0], More: len(errs) - 1}
	}
	dir, err := os.MkdirTemp(scratchBase(), "tails-check-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if o.Keep {
			fmt.Fprintf(o.Log, "check: kept the scratch directory %s (daemon.log, state, catalog.d)\n", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	// The backend's user and tor's reach their directories through it.
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, err
	}
	sc := newScratch(o.Binary, "", dir)
	if err := copyDescription(o.File, svc, sc.catalog); err != nil {
		return nil, err
	}

	env, stopNet, err := network(ctx, o, dir)
	if err != nil {
		return nil, err
	}
	defer stopNet()
	sc.netDir = env.Dir
	fmt.Fprintf(o.Log, "check: %s from %s, on the private network in %s\n", svc.Name, o.File, env.Dir)

	if err := sc.start(ctx); err != nil {
		return nil, fmt.Errorf("%v (log: %s)", err, sc.logTail(5))
	}
	defer sc.stop()
	onion, ctl, err := clientTor(ctx, env)
	if err != nil {
		return nil, fmt.Errorf("the client tor: %v", err)
	}
	defer onion.Stop()
	defer ctl.Close()

	r := &run{o: o, svc: svc, sc: sc, ctl: ctl, probe: svc.ProbeOrDefault(), health: svc.DefaultProbe(),
		pr: &prober{socks: onion.SocksAddr, refetch: func(ctx context.Context, host string) {
			fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			ctl.HSFetch(fctx, host)
		}}}
	rep = &Report{Service: svc.Name}
	runTrials(ctx, rep, r.trials(), o.Out)
	rep.Total = time.Since(start)
	if !rep.OK() {
		fmt.Fprintf(o.Log, "check: the end of the scratch daemon's log: %s\n", sc.logTail(15))
	}
	return rep, nil
}

// network loads the network in o.NetworkDir, or starts one in dir/net.
func network(ctx context.Context, o Options, dir string) (*testnet.Env, func(), error) {
	if o.NetworkDir != "" {
		env, err := testnet.Load(o.NetworkDir)
		if err != nil {
			return nil, nil, err
		}
		return env, func() {}, nil
	}
	netDir := filepath.Join(dir, "net")
	fmt.Fprintf(o.Log, "check: starting a private Tor network in %s\n", netDir)
	env, err := testnet.Up(ctx, testnet.Options{Dir: netDir})
	if err != nil {
		testnet.Down(netDir)
		return nil, nil, err
	}
	return env, func() { testnet.Down(netDir) }, nil
}

// clientTor starts the independent client tor and opens its control
// connection.
func clientTor(ctx context.Context, env *testnet.Env) (*testnet.Tor, *tor.Conn, error) {
	b := make([]byte, 4)
	rand.Read(b)
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	t, err := env.StartTor(sctx, "check-"+hex.EncodeToString(b), nil)
	if err != nil {
		return nil, nil, err
	}
	c, err := tor.Dial(sctx, "tcp", t.ControlAddr)
	if err == nil {
		if err = c.Authenticate(sctx, ""); err != nil {
			c.Close()
		}
	}
	if err != nil {
		t.Stop()
		return nil, nil, err
	}
	return t, c, nil
}

// copyDescription copies the description and the files it names into the
// scratch catalog dir.
func copyDescription(file string, svc *catalog.Service, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	src := filepath.Dir(file)
	names := append([]string{filepath.Base(file)}, svc.Neighbours()...)
	for _, n := range names {
		b, err := readCapped(filepath.Join(src, n), catalog.MaxFileSize)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, n), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(b)) > max {
		err = errors.New(path + " is too large")
	}
	return b, err
}

// scratchBase is where the scratch directory is made: /run when it is
// root's and writable by no one else (a chrooted backend, sftp's, needs
// every folder above its data to be so, which /tmp is not), else the
// system's temporary directory.
func scratchBase() string {
	fi, err := os.Stat("/run")
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 || os.Geteuid() != 0 {
		return ""
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != 0 {
		return ""
	}
	return "/run"
}

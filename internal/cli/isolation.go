package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
	"tails-server/internal/confine"
	"tails-server/internal/isolation"
	"tails-server/internal/tor"
)

// exitCode ends the command line with a code and no message: the exit
// status of a command `isolation run` ran.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// isolationVerbs are the verbs of `tails-server isolation`.
func isolationVerbs() []subcommand {
	return []subcommand{
		{name: "torrc", args: "[--policy FILE] [--port-offset N] [--confine] [--tor PATH]",
			summary: "print the policy as torrc lines (to %include from a system tor's torrc)", doc: "the isolation policy as torrc lines, to `%include` from a system tor's torrc", run: isolationTorrc},
		{name: "apps", args: "[--policy FILE] [--port-offset N] [--local]",
			summary: "list the applications, their ports and flags: the running daemon's policy and port offset when one answers, else the local policy", doc: "the applications, their SOCKS ports and isolation flags: the running daemon's policy at its port offset (the ports its tor opened) when one answers, else the local policy (said on stderr)", run: isolationApps},
		{name: "run", args: "APP [--confine [--transparent]] [--isolate-key KEY] [--torsocks] [--policy FILE] [--port-offset N] -- COMMAND [ARGS]",
			summary: "run a command so that it uses its application's SOCKS port (with --confine: in the app's network namespace, through the daemon, where its Tor ports are the only way out)", doc: "run a command so that it uses its application's port (`ALL_PROXY`, `HTTP(S)_PROXY`, a generated torsocks configuration); `--isolate-key` gives it circuits of its own on an `IsolateSOCKSAuth` port; `--confine` has the daemon run it, as you, in the app's network namespace `ts-APP`, which reaches only the app's SOCKS port (and with `--transparent` sends every TCP connection to its `TransPort` and DNS to its `DNSPort`)", run: isolationRun},
		{name: "audit", args: "[--for DURATION] [--control ADDR [--cookie FILE]] [--policy FILE] [--port-offset N]",
			summary: "follow tor's streams and circuits and report every pair of streams that shared a circuit against the policy (through the daemon, or straight to tor's control port with --control)", doc: "follow tor's streams and circuits and report which streams shared a circuit, flagging every pair the policy forbids", run: isolationAudit},
		{name: "proxy", args: "[--app browser] [--listen 127.0.0.1:9152] [--mode site|conn] [--upstream ADDR]",
			summary: "a SOCKS5 front proxy giving each first-party site its own circuit", doc: "a SOCKS5 front proxy that gives each first-party site its own circuit", run: isolationProxy},
		{name: "bench", args: "[--testnet-dir DIR] [--runs 3] [--out DIR] [--policies LIST] [--workloads LIST]",
			summary: "measure what isolation costs on the private network", doc: "replay page loads and chats under each isolation policy on the private network", run: isolationBench},
	}
}

// runIsolation dispatches `tails-server isolation ...` through
// isolationVerbs. The built-in policy is the Tails layout; see
// docs/isolation.md.
func runIsolation(e *env, args []string) error {
	fs := flag.NewFlagSet("isolation", flag.ContinueOnError)
	fs.StringVar(&e.socket, "socket", e.socket, "API socket")
	fs.StringVar(&e.output, "o", e.output, "output format: yaml or json")
	// Flags before the verb are the global ones (or --help); the verb's
	// own come after it.
	args, err := parseFlags(fs, e, args, nil)
	if err != nil {
		return err
	}
	cmd, _ := lookup("isolation")
	if len(args) == 0 {
		commandHelp(e.stderr, cmd)
		return usageErr("isolation needs a verb: %s", cmd.subList())
	}
	if args[0] == "help" {
		commandHelp(e.stdout, cmd)
		return nil
	}
	if s, ok := cmd.sub(args[0]); ok {
		return s.run(e, args[1:])
	}
	return unknownVerb(cmd, args[0])
}

// policyFlags are the flags every verb that reads a policy takes.
type policyFlags struct {
	path   string
	offset int
}

func (pf *policyFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&pf.path, "policy", "", "isolation policy file (default: the built-in Tails layout)")
	fs.IntVar(&pf.offset, "port-offset", 0, "shift every port number by N (so that several tors share a machine)")
}

// load reads the policy (the built-in one without --policy) and checks
// the offset.
func (pf *policyFlags) load() (*isolation.Policy, error) {
	p := isolation.Default()
	if pf.path != "" {
		var err error
		if p, err = isolation.LoadFile(pf.path); err != nil {
			var pe *isolation.PolicyError
			if !errors.As(err, &pe) {
				err = fmt.Errorf("isolation policy: %w", err)
			}
			return nil, &exitError{code: ExitFailure, err: err, hint: "the policy format is in docs/isolation.md; `tails-server isolation torrc` without --policy shows the built-in one"}
		}
	}
	if err := p.CheckOffset(pf.offset); err != nil {
		return nil, usageErr("%v", err)
	}
	return p, nil
}

func isolationTorrc(e *env, args []string) error {
	fs := flag.NewFlagSet("isolation torrc", flag.ContinueOnError)
	var pf policyFlags
	pf.add(fs)
	torBin := fs.String("tor", "tor", "tor binary whose SocksPort flags the policy is checked against")
	confineBrowser := fs.Bool("confine", false, "confine the built-in layout's browser: its ports on the host side of its namespace's veth")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("isolation torrc takes no arguments, got %q", pos[0])
	}
	p, err := pf.load()
	if err != nil {
		return err
	}
	if *confineBrowser {
		if err := p.ConfineTailsBrowser(); err != nil {
			return usageErr("%v", err)
		}
	}
	if len(p.ConfinedApps()) > 0 {
		if err := (&confine.Manager{}).CheckRange(e.ctx, p.ConfinePrefix()); err != nil {
			return &exitError{code: ExitFailure, err: err}
		}
	}
	supported, err := isolation.SupportedFlags(e.ctx, *torBin)
	if err != nil {
		return &exitError{code: ExitFailure, err: fmt.Errorf("checking the policy's flags against tor: %w", err)}
	}
	if err := p.Validate(supported); err != nil {
		return &exitError{code: ExitFailure, err: err, hint: "tor's manual (man tor, SocksPort) lists the flags"}
	}
	text, err := p.Torrc(pf.offset)
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(e.stdout, text)
	return err
}

// isolationApps lists the applications and their ports: those of the
// running daemon (its policy, its port offset, what its tor exposes) when
// one answers on the socket, as the GUI's isolation page shows them; the
// local policy with --policy, --port-offset or --local, or when no daemon
// answers (said in one line on stderr).
func isolationApps(e *env, args []string) error {
	fs := flag.NewFlagSet("isolation apps", flag.ContinueOnError)
	var pf policyFlags
	pf.add(fs)
	local := fs.Bool("local", false, "show the local policy (built-in, or --policy) without asking the daemon")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("isolation apps takes no arguments, got %q", pos[0])
	}
	fs.Visit(func(f *flag.Flag) {
		*local = *local || f.Name == "policy" || f.Name == "port-offset"
	})
	if !*local {
		c := e.client()
		d, err := c.IsolationPolicy(e.ctx)
		var nr *client.NotRunningError
		switch {
		case err == nil:
			return e.print(d)
		case errors.As(err, &nr):
			fmt.Fprintf(e.stderr, "tails-server: note: no daemon answers at %s: showing the local policy at offset %d, not the ports a running tor opened\n", c.Socket, pf.offset)
		default:
			return &exitError{code: ExitFailure, err: err, hint: "`tails-server isolation apps --local` shows the built-in policy"}
		}
	}
	p, err := pf.load()
	if err != nil {
		return err
	}
	d := p.Describe(pf.offset)
	return e.print(struct {
		Source string                  `json:"source" yaml:"source"`
		Offset int                     `json:"offset" yaml:"offset"`
		Apps   []apitype.IsolationApp  `json:"apps" yaml:"apps"`
		Ports  []apitype.IsolationPort `json:"ports" yaml:"ports"`
	}{d.Source, d.Offset, d.Apps, d.Ports})
}

func isolationRun(e *env, args []string) error {
	// Everything after "--" is the command, untouched.
	var cmd []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, cmd = args[:i], args[i+1:]
	}
	fs := flag.NewFlagSet("isolation run", flag.ContinueOnError)
	var pf policyFlags
	pf.add(fs)
	key := fs.String("isolate-key", "", "SOCKS username (and password) of the command's own, so that IsolateSOCKSAuth ports give it circuits of its own")
	wrap := fs.Bool("torsocks", false, "run the command under torsocks (for programs that ignore proxy variables)")
	confined := fs.Bool("confine", false, "have the daemon run the command in the app's network namespace, whose only way out is the app's Tor ports")
	transparent := fs.Bool("transparent", false, "with --confine: send every TCP connection to the app's TransPort and DNS to its DNSPort (for programs that cannot use a proxy)")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErr("isolation run needs an app and a command: isolation run APP -- COMMAND [ARGS]")
	}
	app := pos[0]
	cmd = append(pos[1:], cmd...)
	if len(cmd) == 0 {
		return usageErr("isolation run %s needs a command: isolation run %s -- COMMAND [ARGS]", app, app)
	}
	if *transparent && !*confined {
		return usageErr("--transparent goes with --confine: without a namespace nothing can redirect a program's connections")
	}
	if *confined {
		if pf.path != "" || pf.offset != 0 {
			return usageErr("--policy and --port-offset do not go with --confine: the daemon confines with its own policy (daemon --isolation-policy)")
		}
		return isolationRunConfined(e, apitype.ConfineRun{App: app, Transparent: *transparent, IsolateKey: *key, Torsocks: *wrap, Command: cmd})
	}
	p, err := pf.load()
	if err != nil {
		return err
	}
	if _, ok := p.App(app); !ok {
		return &exitError{code: ExitUsage, err: fmt.Errorf("unknown app %q", app), hint: "known apps: " + strings.Join(p.AppNames(), ", ") + " (`tails-server isolation apps` lists them)"}
	}
	if *key != "" {
		if err := isolation.CheckIsolateKey(*key); err != nil {
			return usageErr("%v", err)
		}
	}
	setup, err := p.PrepareRun(app, pf.offset, *key, os.Environ())
	if err != nil {
		return &exitError{code: ExitFailure, err: err}
	}
	defer setup.Cleanup()
	if *wrap {
		cmd = append([]string{"torsocks"}, cmd...)
	}
	path, err := exec.LookPath(cmd[0])
	if err != nil {
		return &exitError{code: 127, err: fmt.Errorf("isolation run: %s: command not found", cmd[0])}
	}
	c := exec.Command(path, cmd[1:]...)
	c.Args[0] = cmd[0]
	c.Env = setup.Env
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, e.stdout, e.stderr
	// The terminal sends SIGINT to the whole process group; forward
	// what is sent to us alone.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if err := c.Start(); err != nil {
		return &exitError{code: 126, err: fmt.Errorf("isolation run: starting %s: %w", cmd[0], err)}
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				if s != syscall.SIGINT {
					c.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	err = c.Wait()
	close(done)
	setup.Cleanup()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return exitCode(128 + int(ws.Signal()))
		}
		return exitCode(ee.ExitCode())
	}
	if err != nil {
		return &exitError{code: ExitFailure, err: fmt.Errorf("isolation run: %w", err)}
	}
	return nil
}

func isolationAudit(e *env, args []string) error {
	fs := flag.NewFlagSet("isolation audit", flag.ContinueOnError)
	var pf policyFlags
	pf.add(fs)
	dur := fs.Duration("for", 0, "audit for this long, then print the report (default: follow until Ctrl-C)")
	control := fs.String("control", "", "audit tor directly at this control port (127.0.0.1:9051) or socket path, without the daemon")
	cookie := fs.String("cookie", "", "with --control: tor's control auth cookie file (default: the one tor names)")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("isolation audit takes no arguments, got %q", pos[0])
	}
	if *dur < 0 {
		return usageErr("--for must be positive")
	}
	if *cookie != "" && *control == "" {
		return usageErr("--cookie goes with --control")
	}
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	emit := e.auditPrinter()
	var report *apitype.IsolationAudit
	if *control != "" {
		p, err := pf.load()
		if err != nil {
			return err
		}
		a := &isolation.Auditor{Policy: p, Offset: pf.offset, Connect: dialControl(*control, *cookie)}
		if *dur == 0 {
			a.Emit = emit
		} else {
			a.Emit = func(ev apitype.IsolationAuditEvent) {
				if ev.Note != "" {
					fmt.Fprintln(e.stderr, "tails-server: note:", ev.Note)
				}
			}
		}
		rctx := ctx
		if *dur > 0 {
			var cancel context.CancelFunc
			rctx, cancel = context.WithTimeout(ctx, *dur)
			defer cancel()
		}
		report, err = a.Run(rctx)
		if err != nil {
			return &exitError{code: ExitFailure, err: err, hint: "check --control and --cookie (tor's ControlPort and CookieAuthFile)"}
		}
	} else {
		if pf.path != "" || pf.offset != 0 {
			return usageErr("--policy and --port-offset go with --control; the daemon audits with its own policy (daemon --isolation-policy)")
		}
		c := e.client()
		if *dur == 0 {
			return c.FollowIsolationAudit(ctx, 0, emit)
		}
		err := c.FollowIsolationAudit(ctx, *dur, func(ev apitype.IsolationAuditEvent) {
			switch {
			case ev.Report != nil:
				report = ev.Report
			case ev.Note != "":
				fmt.Fprintln(e.stderr, "tails-server: note:", ev.Note)
			}
		})
		if err != nil {
			return err
		}
		if report == nil {
			return errors.New("the daemon's audit ended without a report")
		}
	}
	if report == nil {
		return nil
	}
	if err := e.print(report); err != nil {
		return err
	}
	if n := len(report.Violations); n > 0 {
		return fmt.Errorf("isolation audit: %d pairs of streams shared a circuit against the policy", n)
	}
	return nil
}

// auditPrinter prints a followed audit's events: one JSON object per
// line with -o json, YAML documents otherwise.
func (e *env) auditPrinter() func(apitype.IsolationAuditEvent) {
	return func(ev apitype.IsolationAuditEvent) {
		if e.output == "json" {
			json.NewEncoder(e.stdout).Encode(ev)
			return
		}
		b, err := yaml.Marshal(ev)
		if err == nil {
			fmt.Fprintf(e.stdout, "---\n%s", b)
		}
	}
}

// dialControl connects to tor's control port or socket and authenticates
// (with the given cookie file, or as PROTOCOLINFO says).
func dialControl(addr, cookie string) isolation.Connector {
	return func(ctx context.Context) (*tor.Conn, func(), error) {
		network, a := "tcp", addr
		if strings.HasPrefix(addr, "/") || strings.HasPrefix(addr, "unix:") {
			network, a = "unix", strings.TrimPrefix(addr, "unix:")
		}
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		c, err := tor.Dial(dctx, network, a)
		if err != nil {
			return nil, nil, err
		}
		if cookie != "" {
			err = c.AuthenticateCookie(dctx, cookie)
		} else {
			err = c.Authenticate(dctx, "")
		}
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		return c, func() { c.Close() }, nil
	}
}

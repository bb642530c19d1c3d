// Package cli implements the tails-server command line. Every subcommand
// but `daemon` and `testnet` is a thin client of the daemon's API (through
// internal/client); output is YAML by default and JSON with -o json, the
// same structs either way.
//
// Errors are one line, "tails-server: error: ...", with a "tails-server:
// hint: ..." line where a fix is known. Exit codes: 0 success, 1 failure,
// 2 usage error, 3 the daemon cannot be reached, 4 a service was enabled but
// was not reachable within --wait.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"tails-server/internal/client"
)

// Exit codes.
const (
	ExitOK           = 0
	ExitFailure      = 1
	ExitUsage        = 2
	ExitNoDaemon     = 3
	ExitNotReachable = 4
)

// exitError carries an exit code and an optional hint.
type exitError struct {
	code int
	err  error
	hint string
}

func (e *exitError) Error() string { return e.err.Error() }

func usageErr(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...), hint: "see `tails-server help`"}
}

// env is what every subcommand gets.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	socket string
	output string
}

type command struct {
	name    string
	args    string
	summary string
	run     func(e *env, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"daemon", "--state DIR --network testnet|system|public [--testnet-dir DIR] [--tor-control ADDR]", "run the daemon", runDaemon},
		{"testnet", "up|down|env --dir DIR [--base-port N] [--timeout 180s] | client start|env|add SERVICE --dir DIR", "start, stop or describe the private Tor network; its client tor with credentials", runTestnet},
		{"list", "", "list the services", runList},
		{"info", "SERVICE [--details] [--show-secrets]", "show a service and its options", runInfo},
		{"status", "SERVICE", "show a service's state and last self-check", runStatus},
		{"enable", "SERVICE [--wait 120s] [--onion-key FILE]", "install, configure and start a service, and publish it as an onion", runEnable},
		{"disable", "SERVICE", "stop a service and withdraw its onion", runDisable},
		{"remove", "SERVICE --yes", "disable a service and wipe its data, config, onion key and clients", runRemove},
		{"get-option", "SERVICE OPTION [--show-secrets]", "show one option", runGetOption},
		{"set-option", "SERVICE OPTION VALUE", "change an option (validated; the backend restarts if it runs)", runSetOption},
		{"logs", "SERVICE [-f] [-n 100]", "show a service's backend output", runLogs},
		{"client", "add|remove|list|show SERVICE [NAME] [--format yaml|auth-private]", "manage who may connect", runClient},
		{"share", "SERVICE [--client NAME] [--qr]", "print what a client needs to connect, with QR codes", runShare},
		{"settings", "[get | set persist-tor-state true|false]", "global settings: tor's state across reboots, vanguards", runSettings},
		{"isolation", "torrc|apps|run|audit|proxy|bench ...", "Tor stream isolation: policy, torrc, per-application routing, live audit", runIsolation},
		{"gui", "[--no-open]", "print (and open) a one-time login URL for the graphical interface", runGUI},
		{"completion", "bash", "print a shell completion script", runCompletion},
		{"version", "", "print the version", runVersion},
		{"help", "", "show this help", nil},
	}
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, output: "yaml"}
	// Global flags come before the subcommand, or anywhere after it.
	global := flag.NewFlagSet("tails-server", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	global.StringVar(&e.socket, "socket", "", "API socket (default $TAILS_SERVER_SOCKET or "+client.DefaultSocket+")")
	global.StringVar(&e.output, "o", "yaml", "output format: yaml or json")
	if err := global.Parse(args); err != nil {
		return report(stderr, usageErr("%v", err))
	}
	args = global.Args()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		help(stdout)
		return ExitOK
	}
	for _, c := range commands {
		if c.name == args[0] && c.run != nil {
			err := c.run(e, args[1:])
			if err == nil || errors.Is(err, errHelpShown) {
				return ExitOK
			}
			var code exitCode // a child's exit status (isolation run): no message
			if errors.As(err, &code) {
				return int(code)
			}
			return report(stderr, err)
		}
	}
	return report(stderr, usageErr("unknown command %q", args[0]))
}

// errHelpShown ends a command after `--help` printed its usage.
var errHelpShown = errors.New("help shown")

// verbHelp prints a command's usage, summary and flags.
func verbHelp(w io.Writer, fs *flag.FlagSet) {
	for _, c := range commands {
		if c.name == fs.Name() || strings.HasPrefix(fs.Name(), c.name+" ") {
			fmt.Fprintf(w, "usage: tails-server %s %s\n\n%s\n\nflags:\n", c.name, c.args, c.summary)
		}
	}
	fs.SetOutput(w)
	fs.PrintDefaults()
}

func help(w io.Writer) {
	fmt.Fprintln(w, "usage: tails-server [--socket PATH] [-o yaml|json] COMMAND [ARGS]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n           %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "\nexit codes: 0 ok, 1 failure, 2 usage, 3 daemon unreachable, 4 enabled but not reachable in time")
}

// report prints err as the one-line error (and hint) and returns its code.
func report(w io.Writer, err error) int {
	code, hint := ExitFailure, ""
	var ee *exitError
	var ce *client.Error
	var nr *client.NotRunningError
	switch {
	case errors.As(err, &ee):
		code, hint = ee.code, ee.hint
		if errors.As(ee.err, &ce) && hint == "" {
			hint = ce.Hint
		}
	case errors.As(err, &ce):
		hint = ce.Hint
	case errors.As(err, &nr):
		code = ExitNoDaemon
		hint = "start it with `tails-server daemon --state DIR --network ...`, or point --socket (or TAILS_SERVER_SOCKET) at its socket"
	}
	fmt.Fprintf(w, "tails-server: error: %s\n", firstLine(err.Error()))
	if hint != "" {
		fmt.Fprintf(w, "tails-server: hint: %s\n", hint)
	}
	return code
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// parse parses flags placed anywhere among the arguments and returns the
// positional ones. "--" ends the flags.
func parse(fs *flag.FlagSet, e *env, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	if fs.Lookup("socket") == nil {
		fs.StringVar(&e.socket, "socket", e.socket, "API socket")
	}
	if fs.Lookup("o") == nil {
		fs.StringVar(&e.output, "o", e.output, "output format: yaml or json")
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				verbHelp(e.stdout, fs)
				return nil, errHelpShown
			}
			return nil, usageErr("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if e.output != "yaml" && e.output != "json" {
		return nil, usageErr("unknown output format %q: use -o yaml or -o json", e.output)
	}
	return pos, nil
}

func wantArgs(name string, pos []string, n int, what string) error {
	if len(pos) != n {
		return usageErr("%s takes %s", name, what)
	}
	return nil
}

func (e *env) client() *client.Client {
	return client.New(client.SocketPath(e.socket))
}

// print writes v as YAML or JSON.
func (e *env) print(v any) error {
	if e.output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	enc := yaml.NewEncoder(e.stdout)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return enc.Close()
}

func runVersion(e *env, args []string) error {
	fmt.Fprintln(e.stdout, "tails-server", version())
	return nil
}

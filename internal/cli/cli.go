// Package cli implements the tails-server command line. Every subcommand
// but `daemon`, `testnet` and `check` (which runs a scratch daemon of its
// own) is a thin client of the daemon's API (through
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
	"os"
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
	ctx context.Context
	// stdin is where `set-option SERVICE OPTION -` reads the value.
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	socket string
	output string
}

// command is one verb of the command line. A verb with sub-verbs (client
// add, isolation apps, ...) lists them in subs; its args are then derived
// from them.
type command struct {
	name    string
	args    string
	summary string
	run     func(e *env, args []string) error
	subs    []subcommand
}

// subcommand is a sub-verb; run is set where the verb dispatches through
// this table (isolation), nil where the verb's own code does.
type subcommand struct {
	name    string
	args    string
	summary string
	run     func(e *env, args []string) error
}

// sub returns the sub-verb called name.
func (c *command) sub(name string) (subcommand, bool) {
	for _, s := range c.subs {
		if s.name == name {
			return s, true
		}
	}
	return subcommand{}, false
}

// subNames lists the sub-verbs' names.
func (c *command) subNames() []string {
	var names []string
	for _, s := range c.subs {
		names = append(names, s.name)
	}
	return names
}

// subList is "a, b or c": the sub-verbs for an error message.
func (c *command) subList() string {
	n := c.subNames()
	if len(n) < 2 {
		return strings.Join(n, "")
	}
	return strings.Join(n[:len(n)-1], ", ") + " or " + n[len(n)-1]
}

var commands []command

func init() {
	commands = []command{
		{name: "daemon", args: "--state DIR --network testnet|system|public [--testnet-dir DIR] [--tor-control ADDR]", summary: "run the daemon", run: runDaemon},
		{name: "testnet", summary: "start, stop or describe the private Tor network", run: runTestnet, subs: []subcommand{
			{name: "up", args: "--dir DIR [--base-port N] [--timeout 180s] [--tor PATH]", summary: "start the private network; returns when a client stream works"},
			{name: "down", args: "--dir DIR", summary: "stop what `testnet up` started (by pid file); safe twice"},
			{name: "env", args: "--dir DIR", summary: "print the client SOCKS and control addresses, the cookie path and the join torrc"},
			{name: "client", args: "start|env|add SERVICE --dir DIR [--name demo] [--client demo]", summary: "a client tor of the private network that holds credentials: start it, describe it, or give it a service's credential (reloaded, waits until the service answers)"},
		}},
		{name: "check", args: "DESCRIPTION.yaml [--network-dir DIR] [--keep] [--wait 120s]", summary: "conformance run of a service description on a scratch daemon and a private network: one line per trial, exit 0 when all pass, 2 when the file does not load", run: runCheck},
		{name: "list", summary: "list the services", run: runList},
		{name: "info", args: "SERVICE [--details] [--show-secrets]", summary: "show a service and its options", run: runInfo},
		{name: "status", args: "SERVICE", summary: "show a service's state and last self-check", run: runStatus},
		{name: "enable", args: "SERVICE [--wait 120s] [--onion-key FILE]", summary: "install, configure and start a service, and publish it as an onion", run: runEnable},
		{name: "disable", args: "SERVICE", summary: "stop a service and withdraw its onion", run: runDisable},
		{name: "remove", args: "SERVICE --yes", summary: "disable a service and wipe its data, config, onion key and clients", run: runRemove},
		{name: "get-option", args: "SERVICE OPTION [--show-secrets]", summary: "show one option", run: runGetOption},
		{name: "set-option", args: "SERVICE OPTION VALUE|-", summary: "change an option (validated; the backend restarts if it runs); - reads the value from standard input, unseen on a terminal: use it for secrets", run: runSetOption},
		{name: "logs", args: "SERVICE [-f] [-n 100]", summary: "show a service's backend output", run: runLogs},
		{name: "client", summary: "manage who may connect", run: runClient, subs: []subcommand{
			{name: "add", args: "SERVICE NAME", summary: "make a credential for a new client"},
			{name: "remove", args: "SERVICE NAME", summary: "revoke a client (the onion is re-published without it)"},
			{name: "list", args: "SERVICE", summary: "list a service's clients (without secrets)"},
			{name: "show", args: "SERVICE NAME [--format " + strings.Join(clientFormats, "|") + "]", summary: "show a client's credential; auth-private prints the line tor reads from its ClientOnionAuthDir"},
		}},
		{name: "files", summary: "the service's own content: add files to share or publish, list, remove, save received files", run: runFiles, subs: filesVerbs()},
		{name: "messages", args: "SERVICE [--delete ID]", summary: "list the text messages visitors left (fileshare with messages on), newest first: id, time (UTC), text, files sent with it; or delete one", run: runMessages},
		{name: "share", args: "SERVICE [--client NAME] [--qr]", summary: "print what a client needs to connect, with QR codes", run: runShare},
		{name: "settings", summary: "global settings: tor's state across reboots, vanguards", run: runSettings, subs: []subcommand{
			{name: "get", summary: "show the global settings (also `settings` alone)"},
			{name: "set", args: "persist-tor-state true|false", summary: "change a global setting"},
		}},
		{name: "isolation", summary: "Tor stream isolation: policy, torrc, per-application routing, live audit", run: runIsolation, subs: isolationVerbs()},
		{name: "gui", args: "[--no-open]", summary: "write a one-time login file for the graphical interface (yours alone), print its path and open it", run: runGUI},
		{name: "metrics", args: "[--with-addresses]", summary: "print the daemon's and its tors' metrics in the Prometheus text format, by service name (onion addresses only with --with-addresses)", run: runMetrics},
		{name: "completion", args: "bash", summary: "print a shell completion script", run: runCompletion},
		{name: "version", summary: "print the version", run: runVersion},
		{name: "help", args: "[COMMAND [VERB]]", summary: "show this help, or a command's"},
	}
}

// lookup returns the command called name.
func lookup(name string) (*command, bool) {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i], true
		}
	}
	return nil, false
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdin: os.Stdin, stdout: stdout, stderr: stderr, output: "yaml"}
	// Global flags come before the subcommand, or anywhere after it.
	global := flag.NewFlagSet("tails-server", flag.ContinueOnError)
	global.StringVar(&e.socket, "socket", "", "API socket (default $TAILS_SERVER_SOCKET or "+client.DefaultSocket+")")
	global.StringVar(&e.output, "o", "yaml", "output format: yaml or json")
	args, err := parseFlags(global, e, args, nil)
	if err != nil {
		return exit(stderr, err)
	}
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		help(stdout)
		return ExitOK
	}
	if args[0] == "help" {
		// help [COMMAND [VERB]] is COMMAND VERB --help.
		if len(args) == 1 || strings.HasPrefix(args[1], "-") {
			help(stdout)
			return ExitOK
		}
		args = append(append([]string{}, args[1:]...), "--help")
	}
	c, ok := lookup(args[0])
	if !ok || c.run == nil {
		return report(stderr, usageErr("unknown command %q", args[0]))
	}
	return exit(stderr, c.run(e, args[1:]))
}

// exit reports err (if any) and returns the exit code.
func exit(stderr io.Writer, err error) int {
	if err == nil || errors.Is(err, errHelpShown) {
		return ExitOK
	}
	var code exitCode // a child's exit status (isolation run): no message
	if errors.As(err, &code) {
		return int(code)
	}
	return report(stderr, err)
}

// report prints err as the one-line error (and hint) and returns its code.
func report(w io.Writer, err error) int {
	code, hint := ExitFailure, ""
	var ee *exitError
	var ce *client.Error
	var nr *client.NotRunningError
	var pe *client.PermissionError
	var ue *client.UntrustedError
	switch {
	case errors.As(err, &ee):
		code, hint = ee.code, ee.hint
		if errors.As(ee.err, &ce) && hint == "" {
			hint = ce.Hint
		}
	case errors.As(err, &ce):
		hint = ce.Hint
	case errors.As(err, &pe):
		code = ExitNoDaemon
		group := pe.Group
		if group == "" {
			group = "GROUP"
		}
		hint = "join the group with `sudo adduser $USER " + group + "`, then log out and in again (or run the command with sudo)"
	case errors.As(err, &ue):
		code = ExitNoDaemon
		hint = "another user answers on that socket: point --socket (or TAILS_SERVER_SOCKET) at the root daemon's socket (default " + client.DefaultSocket + ")"
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
	if fs.Lookup("socket") == nil {
		fs.StringVar(&e.socket, "socket", e.socket, "API socket")
	}
	if fs.Lookup("o") == nil {
		fs.StringVar(&e.output, "o", e.output, "output format: yaml or json")
	}
	var pos []string
	for {
		rest, err := parseFlags(fs, e, args, pos)
		if err != nil {
			return nil, err
		}
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if e.output != "yaml" && e.output != "json" {
		return nil, usageErr("unknown output format %q: use -o yaml or -o json", e.output)
	}
	return pos, nil
}

// parseFlags parses the flags at the start of args and returns what
// follows them (from the first positional argument, or "--", on). It is
// the one place that answers -h and --help: the usage of fs's command
// (and of its sub-verb: the second word of fs's name, or the first of the
// positional arguments pos met so far) on stdout, and errHelpShown.
func parseFlags(fs *flag.FlagSet, e *env, args, pos []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	// fs.Parse drops a "--" it ends at; keep it for parse.
	end := len(args)
	for i, a := range args {
		if a == "--" {
			end = i
			break
		}
	}
	if err := fs.Parse(args[:end]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			verbHelp(e.stdout, fs, pos)
			return nil, errHelpShown
		}
		if fs.Name() == "tails-server" {
			return nil, usageErr("%v", err)
		}
		return nil, usageErr("%s: %v", fs.Name(), err)
	}
	return append(fs.Args(), args[end:]...), nil
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
	pos, err := parse(flag.NewFlagSet("version", flag.ContinueOnError), e, args)
	if err != nil {
		return err
	}
	if err := wantArgs("version", pos, 0, "no arguments"); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "tails-server", version())
	return nil
}

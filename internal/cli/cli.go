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

// unknownVerb is the usage error for a verb c does not have: one line,
// naming the verbs it has.
func unknownVerb(c *command, verb string) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf("unknown %s verb %q: use %s", c.name, verb, c.subList())}
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
	// probe, when set, asks a verb for its flags instead of its help.
	probe *flagProbe
}

// command is one verb of the command line. A verb with sub-verbs (client
// add, isolation apps, ...) lists them in subs; its args are then derived
// from them.
type command struct {
	name    string
	args    string
	summary string
	// doc is the longer description of the README's CLI reference and
	// the man page (summary when empty); `code` in backquotes.
	doc  string
	run  func(e *env, args []string) error
	subs []subcommand
	// hidden keeps the command out of the help, the docs and the
	// completions (__complete, which the completion scripts call).
	hidden bool
}

// subcommand is a sub-verb; run is set where the verb dispatches through
// this table (isolation), nil where the verb's own code does.
type subcommand struct {
	name    string
	args    string
	summary string
	doc     string // as command.doc
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
		{name: "daemon", args: "--state DIR --network testnet|system|public [--testnet-dir DIR] [--tor-control ADDR] [--tor PATH] [--onionbalance PATH] [--volatile-dir DIR] [--catalog DIR] [--no-builtin-catalog] [--firewall=true] [--firewall-table NAME] [--check-interval 5m] [--gui-listen 127.0.0.1:0|off] [--group tails-server] [--isolation-policy FILE|none] [--isolation-port-offset N] [--isolation-confine] [--onions-per-tor 10] [--metrics-listen 127.0.0.1:PORT [--metrics-allow-remote]]", summary: "run the daemon", doc: "run the daemon (as root): it owns the connection to Tor, the services and their onions, and serves the API socket and the GUI; `--metrics-listen` serves `GET /metrics` (the text of `metrics`, never with onion addresses) on a TCP address for Prometheus, off by default; an address other than loopback is refused unless `--metrics-allow-remote`", run: runDaemon},
		{name: "testnet", summary: "start, stop or describe the private Tor network", run: runTestnet, subs: []subcommand{
			{name: "up", args: "--dir DIR [--base-port N] [--timeout 180s] [--tor PATH] [--voting-interval 10s]", summary: "start the private network; returns when a client stream works", doc: "start the private network; returns when a client stream works"},
			{name: "down", args: "--dir DIR", summary: "stop what `testnet up` started (by pid file); safe twice", doc: "stop what `up` started (by pid file), the client tors of `testnet client` too; safe twice"},
			{name: "env", args: "--dir DIR", summary: "print the client SOCKS and control addresses, the cookie path and the join torrc", doc: "YAML: client SOCKS and control addresses, cookie path, join torrc (also in `DIR/join.torrc`)"},
			{name: "client", args: "start|env|add SERVICE --dir DIR [--name demo] [--client demo]", summary: "a client tor of the private network that holds credentials: start it, describe it, or give it a service's credential (reloaded, waits until the service answers)", doc: "`start`: start a client tor of the network with a `ClientOnionAuthDir` of its own (in `DIR/extra/NAME`; it runs until `testnet down`), or show the running one: `socks_addr`, `client_onion_auth_dir`, `pid`; `env`: the same for the running client tor; `add`: put SERVICE's credential for client `--client` (added if missing) into that tor's `ClientOnionAuthDir` (0600, atomically), reload it, wait until SERVICE answers through it (exit 4 if not within 2 minutes), and print `onion_address` and `socks_addr`"},
		}},
		{name: "check", args: "DESCRIPTION.yaml [--network-dir DIR] [--keep] [--wait 120s]", summary: "conformance run of a service description on a scratch daemon and a private network: one line per trial, exit 0 when all pass, 2 when the file does not load", doc: "the conformance run of one service description, on a scratch daemon of its own (state, socket, a catalog dir holding only that file) on a private network (the one in `--network-dir`, or one it starts and stops): enable, its probe through the onion from an independent client tor, kill -9 of the backend, set-option of every option (valid and invalid), hostile values, disable, enable, persistence on and off across a simulated reboot; one line per trial (`PASS name (1.2s)`, `FAIL name: why`, `SKIP name: why`), a summary; exit 0 when all pass, 1 when one fails, 2 when the file does not load (`FILE:LINE: what is wrong`). `--keep` keeps the scratch dir (the daemon's log); `-o json` prints the report whole at the end instead of the lines. Runs as root, like the daemon. See `docs/services.md`, \"Checking a description\"", run: runCheck},
		{name: "list", summary: "list the services", doc: "the services: name, title, `installed`, state, address", run: runList},
		{name: "info", args: "SERVICE [--details] [--show-secrets]", summary: "show a service and its options", doc: "a service: `installed`, address, port, state, options (secrets masked), clients, warnings, `health` (uptime, last failures; `--details` adds the 24-hour chart); fileshare's last 100 `transfers`, newest first", run: runInfo},
		{name: "status", args: "SERVICE", summary: "show a service's state and last self-check", doc: "address ready / reachable, last self-check, uptime over 1 h / 24 h / 7 d and the last failures (the health record), progress, options shown in status; with the timers (`stop-after`, `start-at`, see `docs/services/fileshare.md`), the time left before the onion is withdrawn (`stops_in`, `stops_at`) or when a scheduled service publishes (`scheduled`, `starts_at`), and why stop-after, auto-stop or `max-downloads` disabled it; fileshare's newest 10 `transfers` (downloads and uploads: start, end, bytes, complete; `info` shows the last 100; `GET /api/v1/services/fileshare/transfers` adds those under way, with their bytes so far)", run: runStatus},
		{name: "enable", args: "SERVICE [--wait 120s] [--onion-key FILE]", summary: "install, configure and start a service, and publish it as an onion", doc: "install its packages (their own system services disabled and masked so that none starts at boot with its default configuration, and said so; see \"System services of the packages\"), render its config, start and health-check its backend, publish its onion (before its `start-at` time: record it enabled, state `scheduled`, exit 0, and publish it then); `--onion-key` reuses an address (Tor's `hs_ed25519_secret_key` file or `ED25519-V3:<base64>`)", run: runEnable},
		{name: "disable", args: "SERVICE", summary: "stop a service and withdraw its onion", doc: "stop it, withdraw the onion (key and clients stay)", run: runDisable},
		{name: "remove", args: "SERVICE --yes", summary: "disable a service and wipe its data, config, onion key and clients", doc: "disable it and wipe its data, config, onion key and clients; prints what it wiped (`removed:` the service, its onion address and key file, how many clients, the folders); enables again the system services of its packages that `enable` turned off and the host had enabled before", run: runRemove},
		{name: "export", args: "SERVICE|--all --to FILE [--recipient AGE_RECIPIENT] [--force]", summary: "write an encrypted archive of a service (or of everything) to move it to another host", doc: "write one archive holding everything the service is (onion key, clients and their keys, options, rendered config, data, content), encrypted with age by the daemon: to a passphrase, asked twice on a terminal without echo or read as the first line of standard input, or to `--recipient` (an age public key, `age1...`); `--all`: every service, the settings and tor's state when it is persisted. FILE is written as you, mode 0600, atomically, and never over an existing file unless `--force`. See `docs/moving.md`", run: runExport},
		{name: "import", args: "FILE [--as NAME] [--yes] [--replace] [--identity FILE]", summary: "check an archive of export whole, show what it holds, and import it after confirmation", doc: "the daemon decrypts and checks the whole archive (format version, every member's size and SHA-256 against its manifest, each onion key against its address) into a staging folder before anything changes, and shows a preview (address, clients, sizes, options); it applies it after you confirm (or with `--yes`), each service moved into place in one rename, imported disabled: `enable` it once the old host no longer publishes it. A service here with another onion key is replaced only with `--replace`; `--as NAME` imports a one-service archive under another name; `--identity` is the age identity file of an archive exported with `--recipient`, else the passphrase is asked (or read as the first line of standard input). See `docs/moving.md`", run: runImport},
		{name: "get-option", args: "SERVICE OPTION [--show-secrets]", summary: "show one option", doc: "one option", run: runGetOption},
		{name: "set-option", args: "SERVICE OPTION VALUE|-", summary: "change an option (validated; the backend restarts if it runs); - reads the value from standard input, unseen on a terminal: use it for secrets", doc: "`-` reads the value from standard input: typed at a prompt that does not echo it (a secret), or one line from a pipe (a `text` option: all of it); a second line or nothing is refused. Give secrets this way: an argument shows to every user in `ps` and stays in the shell's history, and `set-option` warns when a secret comes as one. `-` always means standard input (a value that is `-` itself: `printf -- - | tails-server set-option S O -`). Then: validate and apply: re-render, restart the backend if it runs (or retry an enabled service that failed); on failure (the backend does not start, the files cannot move) the old value, config and files stay and the backend runs again as before; a warning says when an accepted value shows nowhere (web's `title` once the folder has an `index.html`)", run: runSetOption},
		{name: "logs", args: "SERVICE [-f] [-n 100]", summary: "show a service's backend output", doc: "the backend's output", run: runLogs},
		{name: "client", summary: "manage who may connect", run: runClient, subs: []subcommand{
			{name: "add", args: "SERVICE NAME", summary: "make a credential for a new client", doc: "make a credential for a new client"},
			{name: "remove", args: "SERVICE NAME", summary: "revoke a client (the onion is re-published without it)", doc: "revoke a client (the onion is re-published without it and open connections are cut)"},
			{name: "list", args: "SERVICE", summary: "list a service's clients (without secrets)", doc: "clients (without secrets)"},
			{name: "show", args: "SERVICE NAME [--format " + strings.Join(clientFormats, "|") + "]", summary: "show a client's credential; auth-private prints the line tor reads from its ClientOnionAuthDir", doc: "a client's credential; `auth-private` prints exactly the line Tor reads from a file in its `ClientOnionAuthDir`"},
		}},
		{name: "files", summary: "the service's own content: add files to share or publish, list, remove, save received files", run: runFiles, subs: filesVerbs()},
		{name: "messages", args: "SERVICE [--delete ID]", summary: "list the text messages visitors left (fileshare with messages on), newest first: id, time (UTC), text, files sent with it; or delete one", doc: "the text messages visitors left (fileshare with `messages` on, see `docs/services/fileshare.md`), newest first: `id`, `time` (UTC), `text`, the `files` sent with it, and whether the service is `accepting` them now; `--delete ID` removes one (an ID is 16 lowercase hex digits, checked before the daemon is asked); another service says it takes no messages", run: runMessages},
		{name: "share", args: "SERVICE [--client NAME] [--qr]", summary: "print what a client needs to connect, with QR codes", doc: "address, port, the client URI, instructions with the address, ports and room or channel names filled in, what else the client needs (server password, host key fingerprint); with `--client`, the bare `key` for Tor Browser and the `credential` line for a tor's `ClientOnionAuthDir` (as the file `credential_file`), each with a sentence of what to do; QR codes on a terminal", run: runShare},
		{name: "settings", summary: "global settings: tor's state across reboots, vanguards", run: runSettings, subs: []subcommand{
			{name: "get", summary: "show the global settings (also `settings` alone)", doc: "show the global settings (also `settings` alone): whether tor's state (its entry guards) is kept across reboots (for every tor of the daemon), the vanguards protection in use, how many tors run, with the trade-offs explained"},
			{name: "set", args: "persist-tor-state true|false", summary: "change a global setting", doc: "change a global setting: `persist-tor-state` keeps tor's state (its entry guards) across reboots or not; a change restarts the daemon's tor, and says so: open connections to the services drop until tor has bootstrapped again"},
		}},
		{name: "balance", summary: "Onionbalance masters: one onion address in front of public services on several hosts", run: runBalance, subs: balanceVerbs()}, // balance.go
		{name: "isolation", summary: "Tor stream isolation: policy, torrc, per-application routing, live audit", run: runIsolation, subs: isolationVerbs()},
		{name: "gui", args: "[--no-open] [--browser]", summary: "open the graphical interface in a window of its own (tails-server-gui) on a desktop, else write a one-time login file for it (yours alone), print its path and open it in a browser", doc: "open the GUI in a window of its own (`tails-server-gui`, found next to the binary or in PATH) when a desktop is there; else (or with `--browser`) write a one-time login file of the GUI (0600, yours alone), print its path, and open it in the browser when a desktop is there", run: runGUI},
		{name: "metrics", args: "[--with-addresses]", summary: "print the daemon's and its tors' metrics in the Prometheus text format, by service name (onion addresses only with --with-addresses)", doc: "the daemon's metrics in the Prometheus text format (also `GET /api/v1/metrics`): services by state, reachability, self-check latency histogram and failures, publications, descriptor uploads, re-publications, restarts of process backends and of the daemon's tors, fileshare transfers; and its tors' onion-service metrics (`tor_hs_*`: introductions, rejected introductions, `hs_pow_suggested_effort`, rendezvous, circuit build times) labelled `service=\"NAME\"`; the onion address only with `--with-addresses`. See \"Metrics\" below", run: runMetrics},
		{name: "docs", summary: "write the man page, or the README's CLI reference, from this command table", run: runDocs, subs: []subcommand{
			{name: "man", args: "DIR", summary: "write tails-server.1 into DIR (made if missing), or to standard output when DIR is -", doc: "write the man page `tails-server(1)` (roff) into DIR as `tails-server.1` (to standard output when DIR is `-`), from the command table, as this table, `--help` and the completion scripts are made (what a package installs: `tails-server docs man DESTDIR/usr/share/man/man1`)"},
			{name: "readme", args: "FILE", summary: "rewrite FILE's CLI reference table", doc: "rewrite the CLI reference table of FILE (the lines between its `cli-reference` markers) from the command table; `go test ./internal/cli` fails while README.md differs from it"},
		}},
		{name: "completion", args: "bash|zsh|fish [--bin PATH]", summary: "print a shell completion script", doc: "a completion script for bash, zsh or fish: commands, verbs, flags and their values, and the names of services, options, clients and applications, asked of the daemon when one answers (through a hidden `__complete` verb; nothing when none does). Load it with `source <(bin/tails-server completion bash)`, `source <(bin/tails-server completion zsh)` after `compinit`, or `bin/tails-server completion fish | source`. The script runs the binary that printed it (its absolute path), so it works for a `tails-server` off `PATH`; `--bin tails-server` makes one that runs the `tails-server` on `PATH` (what a package installs)", run: runCompletion},
		{name: "version", summary: "print the version", doc: "print the version", run: runVersion},
		{name: "help", args: "[COMMAND [VERB]]", summary: "show this help, or a command's", doc: "the usage of every command and verb, or of one, with its flags"},
		{name: "__complete", args: "-- WORDS...", summary: "print the completions of the last word (for the completion scripts)", run: runComplete, hidden: true},
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
		// One line: the hint is in it.
		fmt.Fprintf(stderr, "tails-server: error: unknown command %q: see `tails-server help`\n", args[0])
		return ExitUsage
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
			if e.probe != nil {
				e.probe.fs = fs
				return nil, errHelpShown
			}
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

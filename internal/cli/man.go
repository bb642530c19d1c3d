package cli

import (
	"fmt"
	"regexp"
	"strings"

	"tails-server/internal/client"
)

// manPage is tails-server(1) in roff (the man macros): one page, a
// subsection per command and verb with its flags, from the command table.
func manPage() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w(`.\" Generated from the command table by "tails-server docs man DIR"; do not edit.`)
	w(`.TH TAILS\-SERVER 1 "" "tails-server %s" "User Commands"`, roffText(version()))
	w(".SH NAME")
	w(`tails\-server \- host services for a small group as Tor onion services, and set up Tor stream isolation`)
	w(".SH SYNOPSIS")
	w(`.B tails\-server`)
	w(`[\fB\-\-socket\fR \fIPATH\fR] [\fB\-o\fR \fByaml\fR|\fBjson\fR] \fICOMMAND\fR [\fIARGS\fR]`)
	w(".SH DESCRIPTION")
	w(roffPara("`tails-server daemon` owns the connection to Tor (its own tor process, or the system's through its control port), installs, configures, starts and health-checks the backends of the services (a web site, a file share, voice or text chat, a shared editor, ...), publishes each one as a v3 onion service with client authorization, and serves a local API on a unix socket and a web GUI. Every other command is a client of that API, usable over SSH; it prints YAML, or JSON with `-o json`, the same structs either way."))
	w(".PP")
	w(roffPara("The same daemon renders and checks the Tor client configuration for stream isolation (which SOCKS port, with which isolation flags, each application uses), runs applications on their port, and audits live circuits."))
	w(".PP")
	w(roffPara("Errors are one line, `tails-server: error: ...`, then a `tails-server: hint: ...` line when a fix is known."))
	w(".SH OPTIONS")
	w(roffPara("These go before the command or anywhere after it."))
	for _, f := range globalFlags() {
		roffFlag(&b, f)
	}
	w(`.TP`)
	w(`\fB\-h\fR, \fB\-\-help\fR`)
	w(roffPara("print the usage (of the command, or verb, it follows) and exit 0"))
	w(".SH COMMANDS")
	for _, r := range docRows() {
		name := strings.TrimSpace(r.cmd.name + " " + r.sub)
		w(`.SS "%s"`, roffText(name))
		w(`\fBtails\-server %s\fR%s`, roffText(name), roffText(strings.TrimPrefix(r.usage, name)))
		w(".br")
		w(roffPara(r.doc))
		flags := verbFlags(r.cmd, r.sub)
		if len(flags) > 0 {
			w(".RS")
			for _, f := range flags {
				roffFlag(&b, f)
			}
			w(".RE")
		}
	}
	w(".SH EXIT STATUS")
	for _, s := range []struct {
		code int
		what string
	}{
		{ExitOK, "success (also `--help` and `help`)"},
		{ExitFailure, "failure"},
		{ExitUsage, "usage error: an unknown command, verb or flag, a missing or extra argument, a bad value (and `check`: the description does not load)"},
		{ExitNoDaemon, "the daemon cannot be reached: not running, no permission on its socket (join its group), or another user answers"},
		{ExitNotReachable, "`enable` (or `testnet client add`): the service was enabled but was not reachable within `--wait`"},
	} {
		w(".TP")
		w(`.B %d`, s.code)
		w(roffPara(s.what))
	}
	w(roffPara("`isolation run` exits with the status of the command it ran."))
	w(".SH ENVIRONMENT")
	roffTerms(&b, ".B", []roffTerm{
		{"TAILS_SERVER_SOCKET", "the daemon's API socket when `--socket` is not given (default " + client.DefaultSocket + ")"},
		{"TAILS_TESTNET_DIR", "the private Tor network `isolation bench` measures on when `--testnet-dir` is not given"},
		{"DISPLAY, WAYLAND_DISPLAY", "when neither is set, `gui` prints the login file's path and opens nothing"},
		{"XDG_RUNTIME_DIR", "where `gui` writes its one-time login file (in tails-server/), when the directory is the user's own and private"},
	})
	w(".SH FILES")
	roffTerms(&b, ".I", []roffTerm{
		{client.DefaultSocket, "the daemon's API socket, open to root and the members of its group (`--group`, default tails-server)"},
		{"/var/lib/tails-server", "the state (`--state`) of the packaged service: services, options, onion keys (0600), clients"},
		{"/etc/default/tails-server", "the packaged service's daemon flags"},
		{"/etc/tails-server/catalog.d/", "service descriptions of the host's own (`--catalog`), besides the built-in ones"},
	})
	w(".SH SEE ALSO")
	w(`.BR tor (1),`)
	w(`.BR torsocks (1),`)
	w(`.BR systemctl (1)`)
	w(".PP")
	w(roffPara("The README and docs/ of the source (installed under /usr/share/doc/tails-server): the services, their options, stream isolation, Tails."))
	return b.String()
}

// roffTerm is a term and what it is, for a list of tagged paragraphs.
type roffTerm struct{ name, what string }

// roffTerms writes terms as tagged paragraphs, each term in the font that
// macro (.B, .I) sets.
func roffTerms(b *strings.Builder, macro string, terms []roffTerm) {
	for _, t := range terms {
		fmt.Fprintf(b, ".TP\n%s %s\n%s\n", macro, roffText(t.name), roffPara(t.what))
	}
}

// roffFlag writes a flag as a tagged paragraph.
func roffFlag(b *strings.Builder, f flagDoc) {
	tag := `\fB` + roffText(f.spelling()) + `\fR`
	if f.value != "" {
		tag += ` \fI` + roffText(f.value) + `\fR`
	}
	usage := f.usage
	if f.def != "" && !strings.Contains(usage, "default") {
		usage += " (default " + f.def + ")"
	}
	fmt.Fprintf(b, ".TP\n%s\n%s\n", tag, roffPara(usage))
}

var codeSpan = regexp.MustCompile("`([^`]*)`")

// roffPara is text for a paragraph: escaped, `code` in bold, and never a
// line that roff would take for a request.
func roffPara(s string) string {
	var out strings.Builder
	last := 0
	for _, m := range codeSpan.FindAllStringSubmatchIndex(s, -1) {
		out.WriteString(roffText(s[last:m[0]]))
		out.WriteString(`\fB` + roffText(s[m[2]:m[3]]) + `\fR`)
		last = m[1]
	}
	out.WriteString(roffText(s[last:]))
	return `\&` + out.String()
}

// roffText escapes s for roff: backslashes, minus signs, and every
// character outside ASCII as a named Unicode character; line breaks become
// spaces.
func roffText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f:
		case r > 0x7e:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

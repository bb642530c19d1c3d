package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// errHelpShown ends a command after -h or --help printed its usage.
var errHelpShown = errors.New("help shown")

// argsOf is what follows a command's name in its usage line.
func (c *command) argsOf() string {
	if len(c.subs) == 0 {
		return c.args
	}
	return strings.Join(c.subNames(), "|") + " ..."
}

// verbHelp prints the usage, summary and flags of fs's command: the
// sub-verb's when fs is named "COMMAND VERB", or when the first
// positional argument met names one.
func verbHelp(w io.Writer, fs *flag.FlagSet, pos []string) {
	name, subName, _ := strings.Cut(fs.Name(), " ")
	if subName == "" && len(pos) > 0 {
		subName = pos[0]
	}
	if c, ok := lookup(name); ok {
		if s, ok := c.sub(subName); ok {
			fmt.Fprintf(w, "usage: %s\n\n%s\n", usageLine(c.name+" "+s.name, s.args), s.summary)
		} else {
			commandHelp(w, c)
		}
	} else {
		// The global flags alone: the whole help.
		help(w)
		return
	}
	fmt.Fprintln(w, "\nflags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// commandHelp prints a command's usage and summary, and its sub-verbs.
func commandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", usageLine(c.name, c.argsOf()), c.summary)
	if len(c.subs) > 0 {
		fmt.Fprintln(w, "\nverbs:")
		for _, s := range c.subs {
			fmt.Fprintf(w, "  %s\n        %s\n", strings.TrimSpace(s.name+" "+s.args), s.summary)
		}
		fmt.Fprintf(w, "\n`tails-server %s VERB --help` shows a verb's flags.\n", c.name)
	}
}

func usageLine(name, args string) string {
	return strings.TrimSpace("tails-server " + name + " " + args)
}

func help(w io.Writer) {
	fmt.Fprintln(w, "usage: tails-server [--socket PATH] [-o yaml|json] COMMAND [ARGS]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		if c.hidden {
			continue
		}
		if len(c.subs) == 0 {
			fmt.Fprintf(w, "  %s\n           %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
			continue
		}
		for _, s := range c.subs {
			fmt.Fprintf(w, "  %s\n           %s\n", strings.TrimSpace(c.name+" "+s.name+" "+s.args), s.summary)
		}
	}
	fmt.Fprintln(w, "\n`tails-server COMMAND --help` (or `tails-server help COMMAND`) shows a command's flags.")
	fmt.Fprintln(w, "\nexit codes: 0 ok, 1 failure, 2 usage, 3 daemon unreachable, 4 enabled but not reachable in time")
}

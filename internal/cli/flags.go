package cli

import (
	"flag"
	"io"
	"sort"
	"strings"
)

// flagProbe, set in an env, makes parseFlags keep the flag set of the
// command it parses instead of printing its help: how the man page, the
// README table and the completions learn each verb's flags from the
// verb's own code, without running it.
type flagProbe struct {
	fs *flag.FlagSet
}

// flagDoc is one flag of a verb.
type flagDoc struct {
	name   string // without dashes
	value  string // what its value is called ("" for a bool flag)
	usage  string
	def    string // its default, "" when none is worth saying
	isBool bool
}

// spelling is the flag as it is typed: -o, --name.
func (f flagDoc) spelling() string {
	if len(f.name) == 1 {
		return "-" + f.name
	}
	return "--" + f.name
}

// globalFlag says whether name is one of the flags every verb takes.
func globalFlag(name string) bool { return name == "socket" || name == "o" }

// verbFlags returns the flags of command c (of its verb sub, if not ""),
// sorted by name, without the global ones. It asks the verb's own code
// for its help with a flagProbe, so that nothing runs.
func verbFlags(c *command, sub string) []flagDoc {
	if c.run == nil {
		return nil
	}
	p := &flagProbe{}
	e := &env{stdout: io.Discard, stderr: io.Discard, output: "yaml", probe: p}
	args := []string{"--help"}
	if sub != "" {
		args = []string{sub, "--help"}
	}
	if err := c.run(e, args); err != errHelpShown || p.fs == nil {
		return nil
	}
	var out []flagDoc
	p.fs.VisitAll(func(f *flag.Flag) {
		if globalFlag(f.Name) {
			return
		}
		value, usage := flag.UnquoteUsage(f)
		d := flagDoc{name: f.Name, value: value, usage: usage, def: f.DefValue}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			d.isBool, d.value = true, ""
			if d.def == "false" {
				d.def = ""
			}
		}
		if d.def == "0" || d.def == "0s" {
			d.def = ""
		}
		out = append(out, d)
	})
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// globalFlags are the flags of the command line before (or after) any
// verb.
func globalFlags() []flagDoc {
	return []flagDoc{
		{name: "socket", value: "PATH", usage: "the daemon's API socket (default $TAILS_SERVER_SOCKET, else /run/tails-server/api.sock)"},
		{name: "o", value: "yaml|json", usage: "output format (default yaml): the same structs either way"},
	}
}

// lookupFlag returns the flag typed as word (-x, --x, --x=v) among flags.
func lookupFlag(flags []flagDoc, word string) (flagDoc, bool) {
	name := strings.TrimLeft(word, "-")
	name, _, _ = strings.Cut(name, "=")
	for _, f := range flags {
		if f.name == name {
			return f, true
		}
	}
	return flagDoc{}, false
}

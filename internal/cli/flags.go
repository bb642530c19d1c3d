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
	usage := c.args
	if s, ok := c.sub(sub); ok {
		usage = s.args
	}
	named := argValueNames(usage)
	var out []flagDoc
	p.fs.VisitAll(func(f *flag.Flag) {
		if globalFlag(f.Name) {
			return
		}
		value, usage := flag.UnquoteUsage(f)
		if v, ok := named[f.Name]; ok {
			value = v
		} else {
			value = strings.ToUpper(value)
		}
		if sub != "" && !forVerb(c, sub, usage) {
			return
		}
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

// forVerb says whether a flag of c whose usage is usage applies to its
// verb sub: parts of a usage that start with verb names ("add: ...; save:
// ...", "list, remove: ...", "client show: ...") name the verbs it is for.
func forVerb(c *command, sub, usage string) bool {
	scoped := false
	for _, part := range strings.Split(usage, "; ") {
		scope, _, ok := strings.Cut(part, ": ")
		if !ok {
			continue
		}
		words := strings.FieldsFunc(scope, func(r rune) bool { return r == ',' || r == ' ' })
		verbs, mine := true, false
		for _, w := range words {
			if _, isVerb := c.sub(w); !isVerb && w != c.name {
				verbs = false
			}
			mine = mine || w == sub
		}
		if verbs {
			if mine {
				return true
			}
			scoped = true
		}
	}
	return !scoped
}

// argValueNames maps the flags of a usage string ("--dir DIR
// [--name demo]") to the placeholders that follow them (dir: DIR), where
// one does.
func argValueNames(args string) map[string]string {
	names := map[string]string{}
	words := strings.Fields(strings.NewReplacer("[", " ", "]", " ").Replace(args))
	for i := 0; i+1 < len(words); i++ {
		f, v := words[i], words[i+1]
		if !strings.HasPrefix(f, "-") || strings.Contains(f, "=") || v == strings.ToLower(v) {
			continue
		}
		names[strings.TrimLeft(f, "-")] = v
	}
	return names
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

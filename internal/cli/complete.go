package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// The hidden verb `__complete -- WORDS...` is what the bash, zsh and fish
// completion scripts call back: WORDS are the command line's words after
// the program's name, the last one being completed (possibly empty). It
// prints one candidate a line, "WORD" or "WORD<TAB>description", already
// filtered by the word typed so far; the line ":file" asks the shell to
// complete file names. Names of services, clients, options and
// applications come from the daemon, asked with a short timeout; when none
// answers they are silently left out.

// completeFile is the line that asks the shell for file names.
const completeFile = ":file"

// completeTimeout bounds the questions to the daemon: a shell waits.
const completeTimeout = 2 * time.Second

func runComplete(e *env, args []string) error {
	if len(args) == 0 || args[0] != "--" {
		if _, err := parse(flag.NewFlagSet("__complete", flag.ContinueOnError), e, args); err != nil {
			return err
		}
		return usageErr("__complete takes -- then the command line's words (the completion scripts call it)")
	}
	ctx, cancel := context.WithTimeout(e.ctx, completeTimeout)
	defer cancel()
	ce := *e
	ce.ctx = ctx
	for _, c := range complete(&ce, args[1:]) {
		fmt.Fprintln(e.stdout, c)
	}
	return nil
}

// complete returns the candidates for the last of words.
func complete(e *env, words []string) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, prev := words[len(words)-1], words[:len(words)-1]
	// The global flags before the command.
	i := 0
	for i < len(prev) && strings.HasPrefix(prev[i], "-") && prev[i] != "--" {
		f, ok := lookupFlag(globalFlags(), prev[i])
		if ok && !strings.Contains(prev[i], "=") && i+1 < len(prev) {
			if f.name == "socket" {
				e.socket = prev[i+1]
			}
			i++
		}
		i++
	}
	if i < len(prev) && prev[i] == "--" {
		i++
	}
	if i == len(prev) {
		if i > 0 {
			if f, ok := lookupFlag(globalFlags(), prev[i-1]); ok && !strings.Contains(prev[i-1], "=") && strings.HasPrefix(prev[i-1], "-") {
				return flagValues(e, f, nil, cur)
			}
		}
		if strings.HasPrefix(cur, "-") {
			return filterFlags(globalFlags(), cur)
		}
		var out []string
		for _, c := range commands {
			if !c.hidden {
				out = append(out, c.name+"\t"+brief(c.summary))
			}
		}
		return filter(out, cur)
	}
	c, ok := lookup(prev[i])
	if !ok || c.hidden {
		return nil
	}
	rest := prev[i+1:]
	// The sub-verb, if the command has them: its first positional word.
	args, sub := c.args, ""
	flags := verbFlags(c, "")
	pos, afterDash, valueOf := positionals(rest, flags)
	if len(c.subs) > 0 {
		if len(pos) == 0 && valueOf == nil && !strings.HasPrefix(cur, "-") {
			var out []string
			for _, s := range c.subs {
				out = append(out, s.name+"\t"+brief(s.summary))
			}
			return filter(out, cur)
		}
		if len(pos) > 0 {
			s, ok := c.sub(pos[0])
			if !ok {
				return nil
			}
			sub, args = s.name, s.args
			flags = verbFlags(c, sub)
			pos, afterDash, valueOf = positionals(rest, flags)
			pos = pos[1:]
		}
	}
	if afterDash {
		return []string{completeFile}
	}
	all := append(append([]flagDoc{}, flags...), globalFlags()...)
	if valueOf != nil {
		return flagValues(e, *valueOf, pos, cur)
	}
	if strings.HasPrefix(cur, "-") {
		return filterFlags(all, cur)
	}
	slots := argSlots(args)
	if len(slots) == 0 {
		return nil
	}
	n := len(pos)
	if n >= len(slots) {
		last := slots[len(slots)-1]
		if !strings.HasSuffix(last, "...") {
			return nil
		}
		n = len(slots) - 1
	}
	return slotValues(e, c.name, sub, strings.TrimSuffix(slots[n], "..."), pos, cur)
}

// positionals returns the positional words among words (flags and their
// values left out), whether a "--" came, and the flag whose value the
// word being completed is, if any.
func positionals(words []string, flags []flagDoc) (pos []string, afterDash bool, valueOf *flagDoc) {
	all := append(append([]flagDoc{}, flags...), globalFlags()...)
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "--" {
			return pos, true, nil
		}
		if !strings.HasPrefix(w, "-") || w == "-" {
			pos = append(pos, w)
			continue
		}
		f, ok := lookupFlag(all, w)
		if !ok || f.isBool || strings.Contains(w, "=") {
			continue
		}
		if i == len(words)-1 {
			return pos, false, &f
		}
		i++
	}
	return pos, false, nil
}

// argSlots are the positional arguments of a usage string: its words
// outside brackets that are not flags or their values, "VALUE|-" as VALUE.
func argSlots(args string) []string {
	var slots []string
	depth, skipValue := 0, false
	for _, w := range strings.Fields(args) {
		inside := depth > 0
		depth += strings.Count(w, "[") - strings.Count(w, "]")
		switch {
		case inside || strings.HasPrefix(w, "["):
		case w == "--":
			return slots
		case strings.HasPrefix(w, "-"):
			skipValue = true
			continue
		case skipValue:
		default:
			slots = append(slots, strings.TrimSuffix(w, "|-"))
		}
		skipValue = false
	}
	return slots
}

// slotValues are the candidates for the positional argument called slot
// (SERVICE, NAME, a|b|c, ...) of command name (verb sub); pos are the
// positional arguments before it.
func slotValues(e *env, name, sub, slot string, pos []string, cur string) []string {
	switch {
	case slot == "SERVICE":
		return filter(serviceNames(e), cur)
	case slot == "OPTION" && len(pos) > 0:
		return filter(optionNames(e, pos[0]), cur)
	case slot == "NAME" && name == "client" && sub != "add" && len(pos) > 0:
		return filter(clientNames(e, pos[0]), cur)
	case slot == "APP":
		return filter(appNames(e), cur)
	case strings.Contains(slot, "PATH") || strings.Contains(slot, "DIR") || strings.Contains(slot, "FILE") || strings.Contains(slot, "."):
		return []string{completeFile}
	case isLiteral(slot):
		return filter(strings.Split(slot, "|"), cur)
	}
	return nil
}

// isLiteral says whether a usage word is typed as it is (lower case
// words, maybe a|b|c), not a placeholder.
func isLiteral(w string) bool {
	for _, r := range w {
		if unicode.IsUpper(r) {
			return false
		}
	}
	return w != ""
}

// flagValues are the candidates for the value of flag f.
func flagValues(e *env, f flagDoc, pos []string, cur string) []string {
	switch f.name {
	case "o":
		return filter([]string{"yaml", "json"}, cur)
	case "format":
		return filter(clientFormats, cur)
	case "network":
		return filter([]string{"testnet", "system", "public"}, cur)
	case "mode":
		return filter([]string{"site", "conn"}, cur)
	case "app":
		return filter(appNames(e), cur)
	case "client":
		if len(pos) > 0 {
			return filter(clientNames(e, pos[len(pos)-1]), cur)
		}
		return nil
	}
	if strings.Contains(f.value, "|") && isLiteral(f.value) {
		return filter(strings.Split(f.value, "|"), cur)
	}
	switch strings.ToLower(f.value) {
	case "duration", "int", "int64", "uint", "uint64", "float", "n":
		return nil
	}
	return []string{completeFile}
}

func filterFlags(flags []flagDoc, cur string) []string {
	var out []string
	for _, f := range flags {
		out = append(out, f.spelling()+"\t"+brief(f.usage))
	}
	return filter(out, cur)
}

// filter keeps the candidates that start with cur; a word with a control
// character (a name the daemon should never have let through) is left
// out, so that no answer can add a line or a field to the output.
func filter(cands []string, cur string) []string {
	var out []string
	for _, c := range cands {
		word, _, _ := strings.Cut(c, "\t")
		if desc := strings.TrimPrefix(c, word); desc == "\t" {
			c = word
		}
		if strings.HasPrefix(word, cur) && word != "" && strings.IndexFunc(word, unicode.IsControl) < 0 && word != completeFile {
			out = append(out, c)
		}
	}
	return out
}

// brief is the start of a summary, for a description beside a candidate.
func brief(s string) string {
	s, _, _ = strings.Cut(s, "; ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 60 {
		s = string(r[:59]) + "…"
	}
	return s
}

func serviceNames(e *env) []string {
	list, err := e.client().List(e.ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range list {
		out = append(out, s.Name+"\t"+brief(s.Title))
	}
	return out
}

func optionNames(e *env, service string) []string {
	s, err := e.client().Info(e.ctx, service, false)
	if err != nil {
		return nil
	}
	var out []string
	for _, o := range s.Options {
		out = append(out, o.Name+"\t"+brief(o.Title))
	}
	return out
}

func clientNames(e *env, service string) []string {
	list, err := e.client().Clients(e.ctx, service)
	if err != nil {
		return nil
	}
	var out []string
	for _, c := range list {
		out = append(out, c.Name)
	}
	return out
}

func appNames(e *env) []string {
	p, err := e.client().IsolationPolicy(e.ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range p.Apps {
		out = append(out, a.Name)
	}
	return out
}

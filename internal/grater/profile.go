// Package grater reads onion-grater profiles and applies onion-grater's
// matching rule to control-port command lines, so that tests can tell
// whether Tails' control-port filter would pass what the daemon sends.
//
// onion-grater (Tails' /usr/local/lib/onion-grater) reads YAML profiles
// from /etc/onion-grater.d/*.yml. A profile is a list of filters; each
// names the clients it serves (apparmor-profiles, users, hosts) and what
// they may send: commands (per command, a list of argument patterns),
// confs (sugar for GETCONF/SETCONF) and events (what SETEVENTS may ask).
// Its rule, which this package implements:
//
//   - a line is split as `CMD SEP ARGS`: the command is the first run of
//     non-blanks, upper-cased; ARGS is the rest after the blanks;
//   - PROTOCOLINFO, AUTHENTICATE and QUIT are answered by the filter
//     itself (it has authenticated to tor already): always passed;
//   - SETEVENTS passes when every event named (upper-cased) is listed;
//   - any other command passes when one of its patterns P matches ARGS
//     as Python's re.match(P + "$", ARGS) does: anchored at the start, and
//     "$" appended to the pattern text (so a top-level alternation's last
//     branch alone is anchored at the end: write "(a|b)", never "a|b");
//   - a command without patterns, or without the empty pattern for no
//     arguments, is refused ("510 Command filtered").
//
// It lives outside the e2e tests so that its own unit tests pin that rule,
// and the relay of relay.go plays onion-grater's part in the end-to-end
// tests. The daemon does not import it. The YAML is decoded strictly: a
// key onion-grater does not know is a typo in our profile.
package grater

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Filter is one element of a profile: the clients it serves and what they
// may send.
type Filter struct {
	Name             string              `yaml:"name"`
	AppArmorProfiles []string            `yaml:"apparmor-profiles"`
	Users            []string            `yaml:"users"`
	Hosts            []string            `yaml:"hosts"`
	Commands         map[string][]Rule   `yaml:"commands"`
	Confs            map[string][]string `yaml:"confs"`
	Events           map[string]*Event   `yaml:"events"`
	RestrictStreams  bool                `yaml:"restrict-stream-events"`

	rules  map[string][]*regexp.Regexp // upper-cased command -> compiled rules
	events map[string]bool             // upper-cased event names
}

// Rule is one allowed argument pattern of a command: a plain string in
// the YAML, or a map with the key "pattern".
type Rule struct {
	Pattern string
}

// UnmarshalYAML takes a string or {pattern: ...}.
func (r *Rule) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&r.Pattern)
	}
	var m struct {
		Pattern *string `yaml:"pattern"`
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	if m.Pattern == nil {
		return fmt.Errorf("line %d: a rule without pattern", n.Line)
	}
	r.Pattern = *m.Pattern
	return nil
}

// Event holds the options of an allowed event.
type Event struct {
	Suppress bool `yaml:"suppress"`
}

// Load reads a profile file.
func Load(path string) ([]*Filter, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	fs, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return fs, nil
}

// Parse decodes a profile and compiles its patterns.
func Parse(data []byte) ([]*Filter, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var fs []*Filter
	if err := dec.Decode(&fs); err != nil {
		return nil, fmt.Errorf("onion-grater profile: %w", err)
	}
	if len(fs) == 0 {
		return nil, errors.New("onion-grater profile: no filter")
	}
	for i, f := range fs {
		if f == nil {
			return nil, fmt.Errorf("onion-grater profile: filter %d is empty", i+1)
		}
		if err := f.compile(); err != nil {
			return nil, fmt.Errorf("onion-grater profile: filter %d: %w", i+1, err)
		}
	}
	return fs, nil
}

func (f *Filter) compile() error {
	f.rules = map[string][]*regexp.Regexp{}
	add := func(cmd, pattern string) error {
		// re.match(P + "$", s): anchored at the start only, "$" glued
		// to the pattern's text.
		re, err := regexp.Compile(`^(?:` + pattern + `$)`)
		if err != nil {
			return fmt.Errorf("%s: pattern %q: %w", cmd, pattern, err)
		}
		cmd = strings.ToUpper(cmd)
		f.rules[cmd] = append(f.rules[cmd], re)
		return nil
	}
	for cmd, rules := range f.Commands {
		if _, ok := f.rules[strings.ToUpper(cmd)]; !ok {
			f.rules[strings.ToUpper(cmd)] = nil
		}
		for _, r := range rules {
			if err := add(cmd, r.Pattern); err != nil {
				return err
			}
		}
	}
	// As onion-grater, even without confs: its GETCONF rule is then
	// "()", which lets GETCONF without arguments through.
	get, set := confRules(f.Confs)
	if err := add("GETCONF", get); err != nil {
		return err
	}
	if set != "" {
		if err := add("SETCONF", set); err != nil {
			return err
		}
	}
	f.events = map[string]bool{}
	for e := range f.Events {
		f.events[strings.ToUpper(e)] = true
	}
	return nil
}

// confRules builds the GETCONF and SETCONF patterns onion-grater derives
// from confs: GETCONF of one listed key; SETCONF of listed keys, reset
// (the empty value listed) or set to one of their listed values; set is
// "" when no key may be set.
func confRules(confs map[string][]string) (get, set string) {
	var keys, resets, assigns []string
	for k, vals := range confs {
		keys = append(keys, k)
		if len(vals) == 0 {
			continue
		}
		for _, v := range vals {
			if v == "" {
				resets = append(resets, k)
				break
			}
		}
		assigns = append(assigns, k+"=("+strings.Join(vals, "|")+")")
	}
	get = "(" + strings.Join(keys, "|") + ")"
	var parts []string
	for _, p := range [][]string{resets, assigns} {
		if len(p) > 0 {
			parts = append(parts, strings.Join(p, `\s*|\s*`))
		}
	}
	if len(parts) > 0 {
		set = "(" + strings.Join(parts, `\s*|\s*`) + ")+"
	}
	return get, set
}

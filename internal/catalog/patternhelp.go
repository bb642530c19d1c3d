package catalog

import (
	"strings"
)

// MaxPatternHelpLen is the longest pattern_help, in bytes.
const MaxPatternHelpLen = 400

// patternHelp decodes an option's pattern_help: the rule of its pattern in
// words, which a refused value's error shows instead of the pattern. An
// option with a pattern must have one (users do not read regexps, and a
// third-party file must not leave them to), and one without a pattern
// must not.
func (d *decoder) patternHelp(f *fields, o *Option, what string) {
	pattern, help := f.get("pattern"), f.get("pattern_help")
	if help != nil {
		o.PatternHelp = strings.TrimSpace(d.line(help, what+": pattern_help", MaxPatternHelpLen))
	}
	switch {
	case help != nil && pattern == nil:
		d.errorf(help, "%s: pattern_help applies only with a pattern", what)
	case pattern != nil && o.Pattern != "" && o.PatternHelp == "":
		d.errorf(pattern, "%s: a pattern needs a pattern_help, the rule in words that a refused value's error shows (e.g. \"use 1 to 40 letters, digits and '-'\")", what)
	case o.Pattern != "" && strings.Contains(o.PatternHelp, o.Pattern):
		d.errorf(help, "%s: pattern_help repeats the pattern; say in words what it allows", what)
	}
}

package catalog

import (
	"fmt"
	"strings"
)

// validateLines checks a text option's value line by line against Pattern:
// every line that is not empty must match it (a list option such as
// authorized keys or accounts, one entry per line). Lines end at LF; a CR
// stays part of its line, so a pattern that refuses control characters
// refuses CRLF text too. The error names the option and the line number,
// never the line (a text may hold credentials), and says PatternHelp.
func (o *Option) validateLines(value string) (string, error) {
	re, err := o.regexp()
	if err != nil {
		return "", fmt.Errorf("option %q: %v", o.Name, err)
	}
	for i, line := range strings.Split(value, "\n") {
		if line == "" {
			continue
		}
		if !re.MatchString(line) {
			return "", fmt.Errorf("option %q: line %d is not valid: %s", o.Name, i+1, o.rule())
		}
	}
	return value, nil
}

package render

import (
	"errors"
	"strings"
)

// Helpers are the functions every format offers besides its escapers.
// They print nothing themselves: their results must still go through an
// escaper, which Parse enforces as for any other value.
//
//   - split SEP VALUE: the non-empty, space-trimmed parts of the string
//     VALUE cut at SEP, for {{range}} over a list option such as
//     "#one, #two" (one section or directive per element):
//
//     {{range split "," .option.channels}}
//     [Channel]
//     Name = {{. | word}}
//     {{end}}
var helpers = map[string]any{
	"split": splitList,
}

// splitList cuts s at sep, trims spaces and drops empty parts. A value
// that is not a string is refused, so a template error names it.
func splitList(sep string, s any) ([]string, error) {
	str, reason := toString(s)
	if reason != "" {
		return nil, errors.New("split: value " + reason)
	}
	if sep == "" {
		return nil, errors.New("split: empty separator")
	}
	var out []string
	for _, p := range strings.Split(str, sep) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

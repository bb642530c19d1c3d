package catalog

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// hookCreates decodes hooks.pre_start_creates: a file template, absolute
// once expanded (it starts with {{config}} or {{data}}, or with /), and
// only meaningful with a pre_start hook.
func (d *decoder) hookCreates(n, preStart *yaml.Node) string {
	const what = "hooks.pre_start_creates"
	s := d.line(n, what, 1024)
	if s == "" {
		d.errorf(n, "%s is empty", what)
		return ""
	}
	if preStart == nil {
		d.errorf(n, "%s needs a pre_start hook", what)
	}
	if !strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "{{config}}") && !strings.HasPrefix(s, "{{data}}") {
		d.errorf(n, "%s must start with {{config}}, {{data}} or /", what)
	}
	d.templates = append(d.templates, pendingTemplate{node: n, what: what, text: s})
	return s
}

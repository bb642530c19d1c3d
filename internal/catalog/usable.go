package catalog

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// UsableWhen is a condition without which no one can use a service: at
// least one of AnyOf must be set (sftp: authorized keys, or password login
// on). While it is not met the daemon shows Warning with the service's
// other warnings (info, status, enable, share, and the GUI next to the
// first of AnyOf).
type UsableWhen struct {
	// AnyOf are names of the service's own bool, string, text or secret
	// options; see OptionSet for when each counts as set.
	AnyOf []string
	// Warning is one line saying who cannot do what and which option to
	// set, e.g. "no one can log in yet: set authorized-keys".
	Warning string
}

// MaxUsableWarningLen is the longest usable_when warning, in bytes.
const MaxUsableWarningLen = 400

// usableTypes are the option types a usable_when condition may name.
var usableTypes = []string{TypeBool, TypeString, TypeText, TypeSecret}

// OptionSet says whether value sets o, for usable_when: a bool is set when
// "true", a string or secret when not blank, a text when one of its lines
// is neither blank nor a comment (starting with "#"), so that a list of
// keys or accounts holding only comments counts as empty.
func OptionSet(o *Option, value string) bool {
	switch o.Type {
	case TypeBool:
		return value == "true"
	case TypeText:
		for _, line := range strings.Split(value, "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				return true
			}
		}
		return false
	}
	return strings.TrimSpace(value) != ""
}

// Met says whether the condition holds with these option values (by
// name; a missing one is empty).
func (u *UsableWhen) Met(s *Service, values map[string]string) bool {
	for _, name := range u.AnyOf {
		if o, ok := s.Option(name); ok && OptionSet(o, values[name]) {
			return true
		}
	}
	return false
}

// Unusable returns the service's usable_when conditions that values do
// not meet, in file order.
func (s *Service) Unusable(values map[string]string) []UsableWhen {
	var out []UsableWhen
	for _, u := range s.UsableWhen {
		if !u.Met(s, values) {
			out = append(out, u)
		}
	}
	return out
}

// usableWhen decodes the usable_when list; the options are decoded first.
func (d *decoder) usableWhen(n *yaml.Node, s *Service) []UsableWhen {
	var out []UsableWhen
	for i, it := range d.sequence(n, "usable_when") {
		what := fmt.Sprintf("usable_when[%d]", i)
		f := d.mapping(it, what, "any_of", "warning")
		if f == nil {
			continue
		}
		var u UsableWhen
		if v := d.required(f, "any_of", what); v != nil {
			u.AnyOf = d.usableOptions(v, what+".any_of", s)
		}
		if v := d.required(f, "warning", what); v != nil {
			u.Warning = strings.TrimSpace(d.line(v, what+".warning", MaxUsableWarningLen))
			if u.Warning == "" && v.Kind == yaml.ScalarNode {
				d.errorf(v, "%s.warning is empty: say who cannot use the service and which option to set", what)
			}
		}
		out = append(out, u)
	}
	return out
}

// usableOptions decodes an any_of list: names of the service's own options,
// of a type that can say whether someone can use it.
func (d *decoder) usableOptions(n *yaml.Node, what string, s *Service) []string {
	items := d.sequence(n, what)
	if n.Kind == yaml.SequenceNode && len(items) == 0 {
		d.errorf(n, "%s is empty: name the options of which one must be set", what)
	}
	var names []string
	seen := map[string]bool{}
	for _, it := range items {
		name := d.line(it, what, 64)
		if name == "" {
			continue
		}
		o, ok := s.Option(name)
		switch {
		case !ok:
			var own []string
			for _, o := range s.Options {
				own = append(own, o.Name)
			}
			list := "it has none"
			if len(own) > 0 {
				list = "its options: " + strings.Join(own, ", ")
			}
			d.errorf(it, "%s: the service has no option %q (%s)", what, name, list)
		case !slicesContains(usableTypes, o.Type):
			d.errorf(it, "%s: option %q is of type %s; only %s options can say whether someone can use the service", what, name, o.Type, strings.Join(usableTypes, ", "))
		case seen[name]:
			d.errorf(it, "%s: option %q is listed twice", what, name)
		}
		seen[name] = true
		names = append(names, name)
	}
	return names
}

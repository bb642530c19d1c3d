package conformance

import (
	"fmt"
	"strconv"

	"tails-server/internal/catalog"
)

// HostileValues are the values every string, text and secret option is set
// to in the hostile trial (and in the built-in services' own tests): each
// must be refused with a one-line error, or accepted with the backend
// still starting and answering. They try line injection, quoting,
// template syntax, shell syntax, config comment and section syntax, NUL
// and backslashes.
var HostileValues = []string{
	"line\ninjected = 1",
	`quo"te 'single'`,
	"{{.port}} {{ printf \"x\" }}",
	"$(touch /tmp/pwned) `id`",
	"semi;colon # hash [section]",
	"nul\x00byte",
	`back\slash`,
}

// optionValues are the values the set-option trials of one option use.
// Without HasValid (or with Invalid empty), NoValid (NoInvalid) says why
// that trial does not apply.
type optionValues struct {
	HasValid           bool // Valid is set; it may be "" (none, for a text)
	Valid, Invalid     string
	NoValid, NoInvalid string
	// Want is Valid as the daemon keeps it (normalized: "90m" as "1h30m").
	Want string
}

// stringCandidates are tried, in order, as the valid value of a string,
// secret or text option: the first its own rules (pattern, length)
// accept and that differs from the current value is used.
var stringCandidates = []string{
	"check", "check-1", "check_1", "Check1", "www", "check.example", "abcdefgh",
	"Check-value-1234", "CheckValue12345678901234", "check@example.org", "a", "1",
}

// valuesFor picks a valid value (another than cur, the current one,
// where the option allows one) and an invalid one for o. freePort gives a
// TCP port no one listens on, for port options (a port option is often
// where the backend listens: a busy one would make the backend fail for a
// reason that is not the description's).
func valuesFor(o *catalog.Option, cur string, freePort func() (int, error)) optionValues {
	var v optionValues
	accept := func(cand string) bool {
		if v.HasValid {
			return true
		}
		norm, err := o.Validate(cand)
		if err != nil || norm == cur {
			return false
		}
		v.HasValid, v.Valid, v.Want = true, cand, norm
		return true
	}
	switch o.Type {
	case catalog.TypeBool:
		if cur == "true" {
			accept("false")
		} else {
			accept("true")
		}
		v.Invalid = "maybe"
	case catalog.TypeInt, catalog.TypePort:
		lo, hi := 1, 65535
		if o.Type == catalog.TypeInt {
			lo, hi = -1<<31, 1<<31-1
		}
		if o.Min != nil {
			lo = max(lo, *o.Min)
		}
		if o.Max != nil {
			hi = min(hi, *o.Max)
		}
		n, _ := strconv.Atoi(cur)
		if o.Type == catalog.TypePort {
			for i := 0; i < 20 && v.Valid == ""; i++ {
				if p, err := freePort(); err == nil && p >= lo && p <= hi {
					accept(strconv.Itoa(p))
				}
			}
		}
		if n < hi {
			accept(strconv.Itoa(n + 1))
		}
		if n > lo {
			accept(strconv.Itoa(n - 1))
		}
		switch {
		case o.Max != nil || o.Type == catalog.TypePort:
			v.Invalid = strconv.Itoa(hi + 1)
		case o.Min != nil:
			v.Invalid = strconv.Itoa(lo - 1)
		default:
			v.Invalid = "ten"
		}
	case catalog.TypeEnum:
		for _, c := range o.Choices {
			accept(c)
		}
		v.Invalid = "no-such-choice"
		for slicesContains(o.Choices, v.Invalid) {
			v.Invalid += "-x"
		}
	case catalog.TypeString, catalog.TypeSecret:
		if o.Type == catalog.TypeSecret && o.Generate != nil {
			if s, err := o.GenerateSecret(); err == nil {
				accept(s)
			}
		}
		if d, ok := o.Default.(string); ok {
			accept(d)
		}
		for _, c := range stringCandidates {
			accept(c)
		}
		// A line break is refused by the type itself, whatever the
		// pattern.
		v.Invalid = "check\nsecond line"
	case catalog.TypeText:
		if d, ok := o.Default.(string); ok {
			accept(d)
		}
		accept("")
		for _, c := range stringCandidates {
			accept(c)
		}
		v.Invalid = "check\x00nul"
	case catalog.TypeDuration:
		accept("90m")
		accept("2h")
		v.Invalid = "5 minutes"
	case catalog.TypeTime:
		// A time in the future would schedule the service (start-at):
		// only "none" is a value that leaves it running.
		if !accept("") {
			v.NoValid = "a time in the future would withdraw the running service until then; only the refusal is tried"
		}
		v.Invalid = "2001-01-01T00:00:00Z"
	default:
		v.NoInvalid = fmt.Sprintf("unknown option type %q", o.Type)
	}
	if !v.HasValid && v.NoValid == "" {
		v.NoValid = "no value other than the current one passes its own rules (pattern, bounds or choices)"
	}
	if v.Invalid != "" {
		if _, err := o.Validate(v.Invalid); err == nil {
			v.Invalid, v.NoInvalid = "", "every value tried passes its rules"
		}
	}
	return v
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hostileApplies says whether the hostile trial is run on an option: the
// types whose free text lands in config files and arguments.
func hostileApplies(o *catalog.Option) bool {
	switch o.Type {
	case catalog.TypeString, catalog.TypeText, catalog.TypeSecret:
		return true
	}
	return false
}

package grater

import (
	"fmt"
	"regexp"
	"strings"
)

// lineRE is how onion-grater splits a command line (CRLF or LF ended).
var lineRE = regexp.MustCompile(`^(\S+)(\s*)([^\r\n]*)\r?\n$`)

// Split splits a command line (with or without its line end) as
// onion-grater does: the command upper-cased, and the argument string.
// ok is false for a line onion-grater skips (blank or malformed).
func Split(line string) (cmd, args string, ok bool) {
	if !strings.HasSuffix(line, "\n") {
		line += "\r\n"
	}
	m := lineRE.FindStringSubmatch(line)
	if m == nil {
		return "", "", false
	}
	return strings.ToUpper(m[1]), m[3], true
}

// Local reports whether onion-grater answers cmd itself, never passing it
// to tor: it has authenticated to tor already and tells every client that
// no authentication is needed.
func Local(cmd string) bool {
	switch strings.ToUpper(cmd) {
	case "PROTOCOLINFO", "AUTHENTICATE", "QUIT":
		return true
	}
	return false
}

// Allows reports whether the filter passes the command line (with or
// without its line end), and if not, why.
func (f *Filter) Allows(line string) (bool, string) {
	cmd, args, ok := Split(line)
	if !ok {
		return false, "not a command line"
	}
	if Local(cmd) {
		return true, ""
	}
	if cmd == "SETEVENTS" {
		for _, e := range strings.Fields(args) {
			if !f.events[strings.ToUpper(e)] {
				return false, fmt.Sprintf("event %s is not listed", strings.ToUpper(e))
			}
		}
		return true, ""
	}
	rules, listed := f.rules[cmd]
	for _, re := range rules {
		if re.MatchString(args) {
			return true, ""
		}
	}
	if !listed {
		return false, cmd + " is not listed"
	}
	return false, fmt.Sprintf("no pattern of %s matches %q", cmd, args)
}

// Match returns the one filter of fs serving a local client running
// exe (or under that AppArmor profile) as user, as onion-grater picks
// it: every qualifier the filter has must list the value or "*". It
// fails when none or several match (onion-grater refuses the latter).
func Match(fs []*Filter, exe, user string) (*Filter, error) {
	var found []*Filter
	for _, f := range fs {
		if lists(f.AppArmorProfiles, exe) && lists(f.Users, user) {
			found = append(found, f)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, fmt.Errorf("no filter serves %s run by %s", exe, user)
	default:
		return nil, fmt.Errorf("%d filters serve %s run by %s", len(found), exe, user)
	}
}

func lists(vals []string, want string) bool {
	for _, v := range vals {
		if v == want || v == "*" {
			return true
		}
	}
	return false
}

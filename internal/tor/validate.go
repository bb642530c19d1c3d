package tor

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"tails-server/internal/onionkey"
)

// ArgError is a refusal to send an argument to tor: it names the argument
// and says what is wrong, and quotes the value only when it is not secret.
type ArgError struct {
	Arg    string // the argument, e.g. "GetInfo key", "password"
	Reason string
}

// Error returns "tor: invalid ARG: REASON".
func (e *ArgError) Error() string {
	return "tor: invalid " + e.Arg + ": " + e.Reason
}

func argErr(name, format string, a ...any) error {
	return &ArgError{Arg: name, Reason: fmt.Sprintf(format, a...)}
}

// checkText refuses control characters that would end or corrupt the
// command line: CR, LF, NUL.
func checkText(name, v string) error {
	switch {
	case strings.ContainsRune(v, '\r'):
		return argErr(name, "contains a carriage return")
	case strings.ContainsRune(v, '\n'):
		return argErr(name, "contains a line feed")
	case strings.ContainsRune(v, 0):
		return argErr(name, "contains a NUL byte")
	}
	return nil
}

// checkQuotable refuses what cannot go inside our QuotedStrings: control
// characters, '"' and '\\'.
func checkQuotable(name, v string) error {
	if err := checkText(name, v); err != nil {
		return err
	}
	for _, c := range v {
		switch {
		case c == '"':
			return argErr(name, "contains a double quote")
		case c == '\\':
			return argErr(name, "contains a backslash")
		case c < 0x20 || c == 0x7f:
			return argErr(name, "contains a control character")
		}
	}
	return nil
}

// checkToken refuses a value that is not one argument matching re. The
// value is quoted in the error (it is not secret).
func checkToken(name, v string, re *regexp.Regexp) error {
	if err := checkText(name, v); err != nil {
		return err
	}
	if strings.ContainsAny(v, " \t") {
		return argErr(name, "%q contains white space", v)
	}
	if strings.ContainsRune(v, '"') {
		return argErr(name, "%q contains a double quote", v)
	}
	if !re.MatchString(v) {
		return argErr(name, "%q is not allowed", v)
	}
	return nil
}

var (
	reInfoKey   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_./:@$+,~-]{0,255}$`)
	reConfKey   = regexp.MustCompile(`^_{0,2}[A-Za-z][A-Za-z0-9_]{0,127}$`)
	reSignal    = regexp.MustCompile(`^[A-Za-z0-9]{1,32}$`)
	reEventName = regexp.MustCompile(`^[A-Za-z][A-Za-z_]{0,63}$`)
	reNickname  = regexp.MustCompile(`^[A-Za-z0-9+_-]{1,16}$`)
	reCircID    = regexp.MustCompile(`^[0-9]{1,16}$`)
	reUnixPath  = regexp.MustCompile(`^/[A-Za-z0-9_./+@:-]{0,1000}$`)
)

// checkAddress checks a v3 onion address (with or without ".onion") and
// returns it lower case without ".onion".
func checkAddress(name, v string) (string, error) {
	if err := checkText(name, v); err != nil {
		return "", err
	}
	if strings.ContainsAny(v, " \t\"") {
		return "", argErr(name, "%q is not one argument", v)
	}
	a, err := onionkey.NormalizeAddress(v)
	if err != nil {
		return "", argErr(name, "%v", err)
	}
	return a, nil
}

// onionFlags are the ADD_ONION flags, by lower-case name.
var onionFlags = map[string]string{
	"discardpk":              "DiscardPK",
	"detach":                 "Detach",
	"basicauth":              "BasicAuth",
	"v3auth":                 "V3Auth",
	"nonanonymous":           "NonAnonymous",
	"maxstreamsclosecircuit": "MaxStreamsCloseCircuit",
}

// checkPort checks a port number.
func checkPort(name string, p int) error {
	if p < 1 || p > 65535 {
		return argErr(name, "port %d out of range 1..65535", p)
	}
	return nil
}

// checkTarget checks an ADD_ONION port target: "", "PORT", "IP:PORT",
// "[IPv6]:PORT" or "unix:/absolute/path".
func checkTarget(name, t string) error {
	if err := checkText(name, t); err != nil {
		return err
	}
	if strings.ContainsAny(t, " \t\",") {
		return argErr(name, "%q contains white space, a quote or a comma", t)
	}
	switch {
	case t == "":
		return nil
	case strings.HasPrefix(t, "unix:"):
		if !reUnixPath.MatchString(strings.TrimPrefix(t, "unix:")) {
			return argErr(name, "%q is not unix:/absolute/path", t)
		}
		return nil
	}
	if p, err := strconv.Atoi(t); err == nil {
		return checkPort(name, p)
	}
	ap, err := netip.ParseAddrPort(t)
	if err != nil {
		return argErr(name, "%q is not PORT, IP:PORT or unix:/path", t)
	}
	return checkPort(name, int(ap.Port()))
}

package balance

import (
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	"tails-server/internal/onionkey"
)

// MinVersion is the oldest onionbalance the daemon runs: the one of
// Debian 12 (0.2.2), the first whose v3 mode has the status socket
// (status-socket-location) that balance status reads.
const MinVersion = "0.2.2"

// DefaultBinary is Debian's onionbalance program.
const DefaultBinary = "/usr/sbin/onionbalance"

var reName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// ValidName checks the name of a master: 1 to 32 of a-z, 0-9 and -,
// starting with a letter.
func ValidName(name string) error {
	if !reName.MatchString(name) {
		return fmt.Errorf("balance name %q: use 1 to 32 lower-case letters, digits and -, starting with a letter", name)
	}
	return nil
}

// NormalizeInstance returns an instance address in the form onionbalance
// reads (56 lower-case characters, no ".onion"); one that is not a v3
// onion address is an error naming the fix.
func NormalizeInstance(addr string) (string, error) {
	a, err := onionkey.NormalizeAddress(addr)
	if err != nil {
		return "", fmt.Errorf("instance %q is not a v3 onion address: give the address `tails-server info SERVICE` shows on the instance's host (56 letters a-z and digits 2-7, then .onion)", shorten(addr))
	}
	return a, nil
}

func shorten(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// configFile is what a master's config.yaml says.
type configFile struct {
	KeyPath      string   // the master's key, Tor's hs_ed25519_secret_key
	StatusSocket string   // onionbalance's status socket
	Instances    []string // addresses without ".onion"
}

// render writes onionbalance's config.yaml. Every value is a path the
// daemon chose or an address NormalizeInstance checked; each is quoted
// anyway (YAML single quotes), and one holding a quote or a line break is
// refused.
func (c configFile) render() ([]byte, error) {
	q := func(what, v string) (string, error) {
		if v == "" || strings.ContainsAny(v, "'\r\n\x00") {
			return "", fmt.Errorf("balance config: %s %q cannot be written", what, v)
		}
		return "'" + v + "'", nil
	}
	if len(c.Instances) == 0 {
		return nil, errors.New("balance config: onionbalance needs at least one instance")
	}
	key, err := q("key path", c.KeyPath)
	if err != nil {
		return nil, err
	}
	sock, err := q("status socket", c.StatusSocket)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("# Written by tails-server (balance); changes are overwritten.\n")
	b.WriteString("status-socket-location: " + sock + "\n")
	b.WriteString("services:\n")
	b.WriteString("- key: " + key + "\n")
	b.WriteString("  instances:\n")
	for i, a := range c.Instances {
		if _, err := onionkey.ParseAddress(a); err != nil || len(a) != onionkey.AddressLen {
			return nil, fmt.Errorf("balance config: instance %d is not a v3 onion address", i+1)
		}
		fmt.Fprintf(&b, "  - address: '%s'\n    name: 'instance%d'\n", a, i+1)
	}
	return []byte(b.String()), nil
}

// CheckBinary checks that bin is an onionbalance of MinVersion or newer;
// the error says how to get one.
func CheckBinary(bin string) error {
	path, err := exec.LookPath(bin)
	if err != nil {
		return &Error{Msg: "onionbalance is not installed (" + bin + " not found)", Hint: "install Debian's package: sudo apt-get install onionbalance"}
	}
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil {
		return &Error{Msg: "onionbalance does not run (" + path + " --version failed)", Hint: "reinstall Debian's package: sudo apt-get install --reinstall onionbalance"}
	}
	v, ok := parseVersion(string(out))
	if !ok {
		return &Error{Msg: "cannot tell onionbalance's version from " + strconv.Quote(shorten(strings.TrimSpace(string(out)))), Hint: "install Debian's package: sudo apt-get install onionbalance"}
	}
	if compareVersions(v, MinVersion) < 0 {
		return &Error{Msg: "onionbalance " + v + " is too old: " + MinVersion + " or newer is needed", Hint: "upgrade it: sudo apt-get install onionbalance (Debian 12 has " + MinVersion + ")"}
	}
	return nil
}

var reVersion = regexp.MustCompile(`onionbalance\s+v?([0-9]+(?:\.[0-9]+)*)`)

// parseVersion reads `onionbalance --version`'s "onionbalance 0.2.2".
func parseVersion(out string) (string, bool) {
	m := reVersion.FindStringSubmatch(out)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// compareVersions compares dotted versions numerically.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

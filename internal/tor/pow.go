package tor

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// PoWMinVersion is the first tor whose ADD_ONION takes the proof-of-work
// keywords (PoWDefensesEnabled, PoWQueueRate, PoWQueueBurst).
const PoWMinVersion = "0.4.9.2"

// PoWSupport is what DetectPoW measured of one tor.
type PoWSupport struct {
	Supported bool
	Version   string // tor's version, "" if unknown
	// Reason says why PoW is off, when it is not Supported.
	Reason string
}

// DetectPoW measures whether the tor behind c takes ADD_ONION's PoW
// keywords: its version (GETINFO version) must be PoWMinVersion or newer,
// and when binary is the program that runs it (the daemon launched it;
// "" for a tor that is not ours, such as the system tor) `binary
// --list-modules` must say "pow: yes". For a tor that is not ours the
// module cannot be seen: the caller treats an ADD_ONION refusal of the
// keywords (IsPoWRefusal) as the answer.
func DetectPoW(ctx context.Context, c *Conn, binary string) PoWSupport {
	info, err := c.GetInfo(ctx, "version")
	if err != nil {
		return PoWSupport{Reason: "tor's version is unknown: " + err.Error()}
	}
	v, _, _ := strings.Cut(info["version"], " ")
	out := PoWSupport{Version: v}
	if compareVersions(v, PoWMinVersion) < 0 {
		out.Reason = fmt.Sprintf("tor %s is older than %s", v, PoWMinVersion)
		return out
	}
	if binary != "" {
		on, err := HasModule(binary, "pow")
		if err != nil {
			out.Reason = err.Error()
			return out
		}
		if !on {
			out.Reason = "this tor was built without its pow module"
			return out
		}
	}
	out.Supported = true
	return out
}

// HasModule runs `binary --list-modules` and says whether it lists module
// as "MODULE: yes".
func HasModule(binary, module string) (bool, error) {
	bin, err := findTor(binary)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, bin, "--list-modules").Output()
	if err != nil {
		return false, fmt.Errorf("tor: running %s --list-modules: %w", bin, err)
	}
	return listsModule(string(b), module), nil
}

func listsModule(out, module string) bool {
	for _, l := range strings.Split(out, "\n") {
		name, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if ok && name == module && strings.TrimSpace(v) == "yes" {
			return true
		}
	}
	return false
}

// IsPoWRefusal says whether err is tor refusing an ADD_ONION line for its
// proof-of-work keywords: a tor older than PoWMinVersion does not know
// them (512 unrecognized keyword), one without the pow module refuses to
// turn PoW on. Either way the service can be added without them.
func IsPoWRefusal(err error) bool {
	var re *ReplyError
	if !errors.As(err, &re) || re.Code < 500 {
		return false
	}
	t := strings.ToLower(re.Text)
	return strings.Contains(t, "pow") || strings.Contains(t, "proof")
}

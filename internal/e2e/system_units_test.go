package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tails-server/internal/testenv"
)

func isEnabled(unit string) string {
	out, _ := exec.Command("systemctl", "is-enabled", "--", unit).Output()
	s, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(s)
}

// TestEnableKeepsSystemDaemonOffAtBoot: the host has ngircd installed
// with its own ngircd.service enabled (as apt-get leaves it). `enable irc`
// says it disables that unit, and after it no link starts it at boot;
// `remove irc --yes` enables it again, as the host had it; a second
// `enable irc` turns it off again.
func TestEnableKeepsSystemDaemonOffAtBoot(t *testing.T) {
	requireNet(t)
	testenv.RequireRoot(t, "the daemon installs packages and changes the system's units")
	testenv.RequireProgram(t, "systemctl")
	testenv.RequireProgram(t, "ngircd")
	const unit = "ngircd.service"
	before := isEnabled(unit)
	t.Cleanup(func() {
		exec.Command("systemctl", "unmask", unit).Run()
		if before == "enabled" {
			exec.Command("systemctl", "enable", unit).Run()
		} else {
			exec.Command("systemctl", "disable", unit).Run()
		}
		if before == "masked" {
			exec.Command("systemctl", "mask", unit).Run()
		}
	})
	for _, verb := range []string{"unmask", "enable"} {
		if out, err := exec.Command("systemctl", verb, unit).CombinedOutput(); err != nil {
			t.Fatalf("systemctl %s %s: %v\n%s", verb, unit, err, out)
		}
	}
	off := func(when string) {
		t.Helper()
		if s := isEnabled(unit); s != "masked" {
			t.Errorf("%s: %s is %s, want masked", when, unit, s)
		}
		links, _ := filepath.Glob("/etc/systemd/system/*.wants/" + unit)
		sysv, _ := filepath.Glob("/etc/rc[0-6S].d/S[0-9][0-9]ngircd")
		if l := append(links, sysv...); len(l) > 0 {
			t.Errorf("%s: ngircd still starts at boot: %s", when, strings.Join(l, " "))
		}
	}

	tmp := backendTempDir(t)
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))
	// Not reachable within 1s is fine (exit 4): the install step is what
	// this test is about.
	enable := func() string {
		t.Helper()
		out, errOut, code := d.cli("enable", "irc", "--wait", "1s")
		if code != 0 && code != 4 {
			t.Fatalf("enable irc: exit %d\n%s%s\n%s", code, out, errOut, d.log)
		}
		return errOut
	}
	said := enable()
	if want := "disabled the system's own ngircd service (ngircd.service) so that it does not start at boot with its default configuration"; !strings.Contains(said, want) {
		t.Errorf("enable irc does not say %q:\n%s", want, said)
	}
	off("after enable")

	d.mustCLI("remove", "irc", "--yes")
	if s := isEnabled(unit); s != "enabled" {
		t.Errorf("after remove: %s is %s, want enabled as the host had it", unit, s)
	}

	enable()
	off("after the second enable")
	d.mustCLI("remove", "irc", "--yes")
}

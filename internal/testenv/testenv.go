// Package testenv holds the few helpers tests share to find the external
// programs they need (tor, curl, ...). Outside CI a missing program skips the
// test with a hint; in CI (CI=true) it fails the test, because a dependency
// that `make test` should have installed is missing and a skip would hide it.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where every
// dependency must be present.
func InCI() bool { return os.Getenv("CI") == "true" }

// RequireProgram returns the path of the named program, or ends the test:
// with a failure in CI, with a skip elsewhere.
func RequireProgram(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if InCI() {
		t.Fatalf("%s not found in PATH: `make test` installs it (apt-get install %s)", name, debianPackage(name))
	}
	t.Skipf("%s not found in PATH; run `make test` (it installs %s) to run this test", name, debianPackage(name))
	return ""
}

// RequireRoot ends the test unless it runs as root: with a failure in CI
// (CI runs as root), with a skip elsewhere. why says what needs root.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if InCI() {
		t.Fatalf("CI runs as root; %s", why)
	}
	t.Skipf("%s: run as root", why)
}

// RequireTor returns the path of Debian's tor binary, or ends the test as
// RequireProgram does.
func RequireTor(t testing.TB) string {
	t.Helper()
	return RequireProgram(t, "tor")
}

func debianPackage(program string) string {
	switch program {
	case "tor", "tor-gencert":
		return "tor"
	case "nc":
		return "netcat-openbsd"
	case "lua5.4", "luac5.4":
		return "lua5.4"
	case "nft":
		return "nftables"
	case "ip":
		return "iproute2"
	case "sshd":
		return "openssh-server"
	case "man":
		return "man-db"
	case "ssh", "sftp", "ssh-keygen":
		return "openssh-client"
	}
	return program
}

package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"tails-server/internal/testenv"
)

// noOneSFTP is the warning sftp's usable_when gives without keys and
// password login.
const noOneSFTP = "no one can log in yet: set authorized-keys"

// TestNoOneCanLogInSFTP: sftp enabled with no authorized key and password
// login off lets no one in; enable, info, status and share say so, naming
// the option to set, and set-option says so while the keys hold only
// comments. Once a key is set, the warning is gone everywhere.
func TestNoOneCanLogInSFTP(t *testing.T) {
	requireNet(t)
	for _, p := range []string{"sshd", "ssh-keygen", "unshare"} {
		testenv.RequireProgram(t, p)
	}
	tmp := sftpRootDir(t)
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))

	out := d.mustCLI("enable", "sftp", "--wait", "240s")
	if !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable sftp:\n%s", out)
	}
	if !strings.Contains(out, noOneSFTP) || !strings.Contains(out, "password-login") {
		t.Fatalf("enable sftp without keys or password login does not warn %q:\n%s", noOneSFTP, out)
	}
	for _, args := range [][]string{{"info", "sftp"}, {"status", "sftp"}, {"share", "sftp"}} {
		if out := d.mustCLI(args...); !strings.Contains(out, noOneSFTP) {
			t.Errorf("%s does not warn %q:\n%s", strings.Join(args, " "), noOneSFTP, out)
		}
	}

	// Comments only are no key: set-option warns where the choice is.
	_, stderr, code := d.cli("set-option", "sftp", "authorized-keys", "# the group's keys, to come\n")
	if code != 0 || !strings.Contains(stderr, "tails-server: warning: "+noOneSFTP) {
		t.Fatalf("set-option of comments only: exit %d, stderr:\n%s", code, stderr)
	}

	_, pub := newSFTPKey(t, t.TempDir(), "alice")
	_, stderr, code = d.cli("set-option", "sftp", "authorized-keys", pub+"\n")
	if code != 0 || strings.Contains(stderr, "no one can") {
		t.Fatalf("set-option with a key: exit %d, stderr:\n%s", code, stderr)
	}
	for _, args := range [][]string{{"info", "sftp"}, {"status", "sftp"}, {"share", "sftp"}} {
		if out := d.mustCLI(args...); strings.Contains(out, "no one can") {
			t.Errorf("with a key, %s still warns:\n%s", strings.Join(args, " "), out)
		}
	}
}

// TestNoOneCanLogInXMPP: xmpp with no account and registration off says
// so in info before it is even enabled; registration on lifts it.
func TestNoOneCanLogInXMPP(t *testing.T) {
	requireNet(t)
	tmp := backendTempDir(t)
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))
	const want = "no one can log in yet: set accounts"
	if out := d.mustCLI("info", "xmpp"); !strings.Contains(out, want) || !strings.Contains(out, "registration") {
		t.Fatalf("info xmpp without accounts or registration does not warn %q:\n%s", want, out)
	}
	if out := d.mustCLI("-o", "json", "get-option", "xmpp", "accounts"); !strings.Contains(out, want) {
		t.Errorf("get-option accounts does not carry the warning:\n%s", out)
	}
	d.mustCLI("set-option", "xmpp", "registration", "true")
	if out := d.mustCLI("info", "xmpp"); strings.Contains(out, "no one can") {
		t.Fatalf("with registration on, info xmpp still warns:\n%s", out)
	}
}

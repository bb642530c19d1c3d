package testnet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A credential that is not one, or a file name that leaves the auth
// directory, is refused in one line that never quotes the credential,
// and nothing is written.
func TestAddCredentialRefusesBadInput(t *testing.T) {
	auth := filepath.Join(t.TempDir(), "auth")
	c := &Client{Name: "demo", Dir: t.TempDir(), AuthDir: auth, PID: os.Getpid()}
	good := strings.Repeat("a", 56) + ":descriptor:x25519:" + strings.Repeat("A", 52)
	for _, tc := range []struct{ file, cred, want string }{
		{"web", "secretsecret", "malformed credential"},
		{"web", strings.Repeat("a", 56) + ":descriptor:x25519:" + strings.Repeat("A", 51), "malformed credential"},
		{"web", good + "\nExtra line", "malformed credential"},
		{"../web", good, "bad credential name"},
		{".web", good, "bad credential name"},
		{"", good, "bad credential name"},
	} {
		_, err := c.AddCredential(context.Background(), tc.file, tc.cred)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AddCredential(%q, %q): %v, want %q", tc.file, tc.cred, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), tc.cred) || strings.Contains(err.Error(), "\n") {
			t.Errorf("AddCredential(%q): error %q quotes the credential or spans lines", tc.file, err)
		}
	}
	if _, err := os.Stat(auth); !os.IsNotExist(err) {
		t.Errorf("auth dir written after refusals: %v", err)
	}
}

func TestClientNotRunning(t *testing.T) {
	e := &Env{Dir: t.TempDir()}
	if _, err := e.Client("demo"); err == nil || !strings.Contains(err.Error(), "no client tor demo runs in "+e.Dir) {
		t.Errorf("Client on an empty network dir: %v", err)
	}
	if _, err := e.Client("../x"); err == nil || !strings.Contains(err.Error(), "bad client name") {
		t.Errorf("Client(../x): %v", err)
	}
}

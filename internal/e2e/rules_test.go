package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestRefusalsSayTheRule: set-option's refusals of the user's report say
// the option's rule in words, on one line, and quote no regexp; what users
// naturally type for irc channels ("#general") is taken.
func TestRefusalsSayTheRule(t *testing.T) {
	requireNet(t)
	tmp := backendTempDir(t)
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))
	tests := []struct{ service, option, value, want string }{
		{"irc", "channels", "general news", `option "channels": value "general news" is not valid: use 1 to 20 channel names separated by commas (no spaces)`},
		{"fileshare", "shared-dir", "../etc", `option "shared-dir": value "../etc" is not valid: use a folder inside the service's data folder`},
		{"xmpp", "room", "Bad Room", `option "room": value "Bad Room" is not valid: use 1 to 64 lower-case letters`},
		{"irc", "password", "has spaces in it", `option "password": value is not valid: use 8 to 64 characters`},
		{"sftp", "authorized-keys", "not a key", `option "authorized-keys": line 1 is not valid: paste one SSH public key a line`},
		{"xmpp", "accounts", "alice", `option "accounts": line 1 is not valid: write one account a line`},
	}
	for _, tt := range tests {
		_, stderr, code := d.cli("set-option", tt.service, tt.option, tt.value)
		wantOneLineError(t, stderr, code, 1, tt.want)
		if strings.ContainsAny(stderr, "[]{}\\^$*") || strings.Contains(stderr, "pattern") {
			t.Errorf("set-option %s %s %q: the refusal holds a regexp:\n%s", tt.service, tt.option, tt.value, stderr)
		}
	}
	d.mustCLI("set-option", "irc", "channels", "#general,news")
	if out := d.mustCLI("get-option", "irc", "channels"); !strings.Contains(out, "#general,news") {
		t.Errorf("get-option irc channels after #general,news:\n%s", out)
	}
}

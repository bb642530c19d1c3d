package catalog

import (
	"testing"

	catalogfs "tails-server/services"
)

// TestUsableWhen decodes the built-in sftp and xmpp conditions and checks
// when each is met: a text holding only comments is no key, no account.
func TestUsableWhen(t *testing.T) {
	cat, errs := Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	sftp, _ := cat.Get("sftp")
	xmpp, _ := cat.Get("xmpp")
	tests := []struct {
		s      *Service
		values map[string]string
		usable bool
	}{
		{sftp, map[string]string{}, false},
		{sftp, map[string]string{"authorized-keys": "", "password-login": "false"}, false},
		{sftp, map[string]string{"authorized-keys": "# the group's keys\n\n  \n"}, false},
		{sftp, map[string]string{"authorized-keys": "ssh-ed25519 AAAAC3Nz alice\n"}, true},
		{sftp, map[string]string{"password-login": "true"}, true},
		{xmpp, map[string]string{"accounts": "", "registration": "false"}, false},
		{xmpp, map[string]string{"accounts": "alice s3cret-pass"}, true},
		{xmpp, map[string]string{"registration": "true"}, true},
	}
	for _, tt := range tests {
		got := tt.s.Unusable(tt.values)
		if (len(got) == 0) != tt.usable {
			t.Errorf("%s with %q: unmet %v, want usable=%v", tt.s.Name, tt.values, got, tt.usable)
		}
		for _, u := range got {
			if u.Warning == "" || len(u.AnyOf) == 0 {
				t.Errorf("%s: condition %+v has no options or no warning", tt.s.Name, u)
			}
		}
	}
	want := []string{"authorized-keys", "password-login"}
	if len(sftp.UsableWhen) != 1 || len(sftp.UsableWhen[0].AnyOf) != 2 || sftp.UsableWhen[0].AnyOf[0] != want[0] || sftp.UsableWhen[0].AnyOf[1] != want[1] {
		t.Errorf("sftp usable_when = %+v, want any_of %v", sftp.UsableWhen, want)
	}
}

package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"tails-server/internal/apitype"
	"tails-server/internal/testenv"
)

// TestShareFillsIn is what a user of `share` sees on real services: the
// instructions carry the onion address and port, no placeholder to edit
// by hand (ADDRESS, USER@ADDRESS.onion, ADDRESS:6523 were there); and
// `share --client` gives the bare key for Tor Browser and the file line
// for a tor's ClientOnionAuthDir, each with what to do with it.
func TestShareFillsIn(t *testing.T) {
	requireNet(t)
	// Every service but sftp, which needs a root directory of its own
	// (the unit test TestShareHasNoPlaceholder covers it with the rest).
	services := []struct{ name, program string }{
		{"web", ""}, {"fileshare", ""}, {"lighttpd", "lighttpd"}, {"irc", "ngircd"},
		{"gobby", "infinoted"}, {"mumble", "murmurd"}, {"xmpp", "prosody"},
	}
	for _, s := range services {
		if s.program != "" {
			testenv.RequireProgram(t, s.program)
		}
	}
	tmp := backendTempDir(t)
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))
	for _, s := range services {
		if out := d.mustCLI("enable", s.name, "--wait", "240s"); !strings.Contains(out, "reachable: true") {
			t.Fatalf("enable %s:\n%s", s.name, out)
		}
	}
	d.mustCLI("client", "add", "web", "alice")

	for _, s := range services {
		name := s.name
		t.Run(name, func(t *testing.T) {
			var sh apitype.Share
			if err := json.Unmarshal([]byte(d.mustCLI("share", name, "-o", "json")), &sh); err != nil {
				t.Fatal(err)
			}
			addr := d.service(name).OnionAddress
			texts := append([]string{sh.URI}, sh.Warnings...)
			for _, det := range sh.Details {
				texts = append(texts, det.Label)
				// A value may be a fingerprint (upper-case hex) or a
				// password: only template leftovers count there.
				if strings.Contains(det.Value, "{{") || strings.Contains(det.Value, "ADDRESS") {
					t.Errorf("detail %s: %q", det.Label, det.Value)
				}
			}
			lines := strings.Split(sh.Instructions, "\n")
			for _, text := range append(texts, lines...) {
				if p := testenv.Placeholders(text); len(p) > 0 {
					t.Errorf("placeholders %q in %q", p, text)
				}
			}
			for _, line := range lines {
				if !strings.Contains(line, addr) {
					t.Errorf("instruction without the onion address %s: %q", addr, line)
				}
			}
			if sh.Key != "" || sh.Credential != "" || sh.KeyHelp != "" {
				t.Errorf("share without --client shows a credential: %+v", sh)
			}
			yml := d.mustCLI("share", name)
			if strings.Contains(yml, "ADDRESS") || !strings.Contains(yml, addr) || strings.Contains(yml, "key:") {
				t.Errorf("share %s:\n%s", name, yml)
			}
		})
	}
	// The instructions name ports, channels and rooms by their values.
	for name, want := range map[string]string{"irc": "#general", "gobby": ":6523", "mumble": "port 64738", "xmpp": "group@conference."} {
		if out := d.mustCLI("share", name); !strings.Contains(out, want) {
			t.Errorf("share %s lacks %q:\n%s", name, want, out)
		}
	}

	t.Run("client", func(t *testing.T) {
		line := strings.TrimSpace(d.mustCLI("client", "show", "web", "alice", "--format", "auth-private"))
		key := line[strings.LastIndex(line, ":")+1:]
		yml := d.mustCLI("share", "web", "--client", "alice")
		for _, want := range []string{
			"key: " + key + "\n",
			"key_help: Paste this key in Tor Browser when it asks for the key of " + d.service("web").OnionAddress + ".\n",
			"credential: " + line + "\n",
			"credential_file: web-alice.auth_private\n",
			"credential_help: For apps that reach the onion through a tor of their own, save the credential line as the file web-alice.auth_private in the folder named by the ClientOnionAuthDir option of that tor, then reload tor (systemctl reload tor).\n",
		} {
			if !strings.Contains(yml, want) {
				t.Errorf("share --client lacks %q:\n%s", want, yml)
			}
		}
		var sh apitype.Share
		if err := json.Unmarshal([]byte(d.mustCLI("share", "web", "--client", "alice", "-o", "json")), &sh); err != nil {
			t.Fatal(err)
		}
		if sh.Key != key || sh.Credential != line || sh.CredentialFile != "web-alice.auth_private" ||
			!strings.Contains(sh.KeyHelp, "Tor Browser") || !strings.Contains(sh.CredentialHelp, "ClientOnionAuthDir") {
			t.Errorf("share --client -o json: %+v", sh)
		}
		if strings.Contains(d.log.String(), key) {
			t.Error("the client's private key appears in the daemon log")
		}
	})
}

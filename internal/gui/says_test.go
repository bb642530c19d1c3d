package gui

import (
	"html"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
)

const onion = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.onion"

// text is a page's visible text, roughly: tags dropped, entities decoded,
// spaces folded.
func text(body string) string {
	s := regexp.MustCompile(`(?s)<script.*?</script>|<[^>]*>`).ReplaceAllString(body, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

// TestStateReason: after auto-stop, the list and the service page say
// why the service is off, as the CLI's status does.
func TestStateReason(t *testing.T) {
	const why = "stopped by auto-stop after the first complete download; enable it again to share again"
	f := &fakeAPI{daemon: apitype.Daemon{Network: "testnet", Tor: apitype.Tor{State: "ready", Bootstrap: 100}},
		services: map[string]apitype.Service{"fileshare": {Name: "fileshare", Title: "File share", Installed: true, State: apitype.StateDisabled,
			OnionAddress: onion, ClientAuth: true, Error: why}}}
	s, hc := serveFake(t, f)
	for _, path := range []string{"/", "/services/fileshare"} {
		if got := text(get(t, s, hc, path)); !strings.Contains(got, "Off: "+why) {
			t.Errorf("%s does not say why the service is off:\n%s", path, got)
		}
	}
}

// TestProgressInWords: while the GUI enables a service, its page says
// each step in words, not the state's name.
func TestProgressInWords(t *testing.T) {
	f := &fakeAPI{daemon: apitype.Daemon{Network: "testnet", Tor: apitype.Tor{State: "ready", Bootstrap: 100}},
		services: map[string]apitype.Service{"web": {Name: "web", Title: "Web server", Installed: true, State: apitype.StateDisabled}},
		progress: []apitype.Progress{{Step: apitype.StateAddressed, State: apitype.StateAddressed}},
		release:  make(chan struct{})}
	defer close(f.release)
	s, hc := serveFake(t, f)
	if resp := post(t, s, hc, "/services/web/enable", url.Values{}); resp.StatusCode != 303 {
		t.Fatalf("enable: %s", resp.Status)
	}
	want := capital(apitype.StateSentence(apitype.StateAddressed))
	var got string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = text(get(t, s, hc, "/services/web")); strings.Contains(got, want) {
			break
		}
	}
	if !strings.Contains(got, want) || strings.Contains(got, apitype.StateAddressed) {
		t.Fatalf("the progress does not say %q in words:\n%s", want, got)
	}
}

// TestBannersPointAtControls: a warning that the CLI words as a command
// points, in the GUI, at the form on the page.
func TestBannersPointAtControls(t *testing.T) {
	f := &fakeAPI{daemon: apitype.Daemon{Network: "testnet", Tor: apitype.Tor{State: "ready", Bootstrap: 100}},
		services: map[string]apitype.Service{"gobby": {Name: "gobby", Title: "Shared text editor", Enabled: true, State: apitype.StateReachable,
			Reachable: true, OnionAddress: onion, ClientAuth: true,
			Warnings: []string{"no client may connect yet: add one with `tails-server client add gobby NAME`"}}}}
	s, hc := serveFake(t, f)
	body := get(t, s, hc, "/services/gobby")
	if strings.Contains(body, "tails-server ") {
		t.Errorf("the page tells a GUI user to run a command:\n%s", text(body))
	}
	if !strings.Contains(body, `<a href="#client-name">Add a person</a>`) || !strings.Contains(body, `id="client-name"`) {
		t.Errorf("the banner does not link to the add-client form:\n%s", body)
	}
	if !strings.Contains(text(body), "No client may connect yet: add one under “People who may connect”.") {
		t.Errorf("banner text:\n%s", text(body))
	}
	// Every hint of the daemon that names a command reads as the GUI's
	// control instead.
	for hint, want := range map[string]string{
		"show its credential with `tails-server client show gobby ann`, or pick another name":                        "Open their credential under “People who may connect”, or pick another name.",
		"enable it first: tails-server enable gobby":                                                                 "Enable it first with its Enable button.",
		"`tails-server list` shows the services: [gobby web]":                                                        "The list of services shows them: [gobby web].",
		"client authorization is on: give each person their own credential (`tails-server share web --client NAME`)": "Client authorization is on.",
	} {
		if got := hintForGUI(hint); got != want {
			t.Errorf("hintForGUI(%q) = %q, want %q", hint, got, want)
		}
	}
	// No template tells a GUI user to run a command, but the login page
	// (there is no GUI to log in without).
	fs.WalkDir(templateFS, "templates", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || p == "templates/login.html" {
			return err
		}
		if b, _ := templateFS.ReadFile(p); strings.Contains(string(b), "tails-server ") {
			t.Errorf("%s names a tails-server command", p)
		}
		return nil
	})
	// Nor a string of the GUI's code.
	files, _ := filepath.Glob("*.go")
	cmd := regexp.MustCompile("`tails-server [a-z]|\"tails-server [a-z]")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "advice.go" {
			continue
		}
		if b, _ := os.ReadFile(f); cmd.Match(b) {
			t.Errorf("%s has a string naming a tails-server command: %s", f, cmd.Find(b))
		}
	}
}

// TestIsolationAdviceByMode: the daemon's own tor (testnet, public) is
// fixed with the daemon's flags, the system's tor with its
// configuration.
func TestIsolationAdviceByMode(t *testing.T) {
	missing := "port default (SocksPort 127.0.0.1:9050): tor does not listen on 127.0.0.1:9050; add the line from `tails-server isolation torrc` to tor's configuration"
	pol := func(inTorrc bool) apitype.IsolationPolicy {
		no := false
		return apitype.IsolationPolicy{Source: "built-in default policy", InTorrc: inTorrc, Checked: true, Missing: []string{missing},
			Ports: []apitype.IsolationPort{{Name: "default", Type: "socks", Addr: "127.0.0.1:9050", Flags: []string{"IsolateDestAddr", "IsolateDestPort"},
				Exposed: &no, Problem: "tor does not listen on 127.0.0.1:9050"}}}
	}
	for _, c := range []struct {
		network string
		inTorrc bool
		want    []string
		not     []string
	}{
		{"testnet", false, []string{"--isolation-port-offset", "--isolation-policy", "do not edit it"}, []string{"add the line", "isolation torrc", "reload tor"}},
		{"public", true, []string{"another program probably holds them", "--isolation-port-offset", "--isolation-policy"}, []string{"add the line", "isolation torrc", "reload tor"}},
		{"system", false, []string{"add these lines to its configuration (torrc), in place of any for the same address, then reload tor", "SocksPort 127.0.0.1:9050 IsolateDestAddr IsolateDestPort"}, []string{"--isolation-port-offset", "isolation torrc"}},
	} {
		f := &fakeAPI{daemon: apitype.Daemon{Network: c.network, Tor: apitype.Tor{State: "ready", Bootstrap: 100}}, policy: pol(c.inTorrc)}
		s, hc := serveFake(t, f)
		got := text(get(t, s, hc, "/isolation"))
		if !strings.Contains(got, "Port default (SocksPort 127.0.0.1:9050): tor does not listen on 127.0.0.1:9050.") {
			t.Errorf("%s: the missing port is not shown:\n%s", c.network, got)
		}
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: the page does not say %q:\n%s", c.network, w, got)
			}
		}
		for _, w := range c.not {
			if strings.Contains(got, w) {
				t.Errorf("%s: the page says %q:\n%s", c.network, w, got)
			}
		}
	}
}

package gui

import (
	"regexp"
	"strings"
	"testing"

	"tails-server/internal/apitype"
)

// TestServicesPageSaysInstalled: the services page shows what the daemon
// says is installed, not a guess from whether a service was ever
// enabled: web and fileshare, never enabled, are installed (built-in), as
// is lighttpd whose package dpkg has; irc, whose package is missing, is
// "Not installed". Each service's own page says the same.
func TestServicesPageSaysInstalled(t *testing.T) {
	f := &fakeAPI{daemon: apitype.Daemon{Network: "testnet", Tor: apitype.Tor{State: "ready", Bootstrap: 100}},
		services: map[string]apitype.Service{
			"web":       {Name: "web", Title: "Web server", Installed: true, State: apitype.StateDisabled},
			"fileshare": {Name: "fileshare", Title: "File share", Installed: true, State: apitype.StateDisabled},
			"lighttpd":  {Name: "lighttpd", Title: "Lighttpd", Installed: true, State: apitype.StateDisabled},
			"irc":       {Name: "irc", Title: "IRC", Installed: false, State: apitype.StateDisabled},
		}}
	s, hc := serveFake(t, f)
	body := get(t, s, hc, "/")
	badge := regexp.MustCompile(`(?s)<a href="/services/([a-z]+)" class="service-link">.*?<span class="badge [a-z]+">([^<]*)</span>`)
	got := map[string]string{}
	for _, m := range badge.FindAllStringSubmatch(body, -1) {
		got[m[1]] = m[2]
	}
	want := map[string]string{"web": "Disabled", "fileshare": "Disabled", "lighttpd": "Disabled", "irc": "Not installed"}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s shows %q, want %q (all: %v)", name, got[name], w, got)
		}
	}
	for name, w := range want {
		if page := text(get(t, s, hc, "/services/"+name)); !strings.Contains(page, w) {
			t.Errorf("/services/%s does not say %q:\n%s", name, w, page)
		}
	}
}

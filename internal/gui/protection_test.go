package gui

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestGUIProtection: the DoS defenses are under their own "Protection"
// fieldset, each with a sentence on what it costs and gives, max-streams
// with the service's own default; an out-of-range value is refused under
// its field.
func TestGUIProtection(t *testing.T) {
	g := serveWithAPI(t)
	page := g.get(t, "/services/mumble")
	m := regexp.MustCompile(`(?s)<fieldset><legend>Protection</legend>(.*?)</fieldset>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no Protection fieldset on the mumble page")
	}
	for _, o := range []string{"pow", "pow-queue-rate", "pow-queue-burst", "max-streams"} {
		if !strings.Contains(m[1], `id="opt-`+o+`"`) {
			t.Errorf("%s is not under Protection", o)
		}
		if help := fieldHelp(t, page, o); !strings.Contains(help, ";") && !strings.Contains(help, ":") {
			t.Errorf("%s help %q says no cost and gain", o, help)
		}
	}
	if !regexp.MustCompile(`id="opt-max-streams"[^>]*value="4"|value="4"[^>]*id="opt-max-streams"`).MatchString(m[1]) {
		t.Error("mumble's max-streams field does not show its description's default 4")
	}
	if regexp.MustCompile(`(?s)<legend>Access and storage</legend>.*?</fieldset>`).FindString(page) == "" ||
		strings.Contains(regexp.MustCompile(`(?s)<legend>Access and storage</legend>.*?</fieldset>`).FindString(page), "opt-pow") {
		t.Error("pow is under Access and storage too")
	}
	code, page := g.post(t, "/services/mumble/options", url.Values{"opt-max-streams": {"70000"}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("max-streams 70000: %d, want 422", code)
	}
	if help := fieldHelp(t, page, "max-streams"); !strings.Contains(help, "70000 is above the maximum 65535") {
		t.Errorf("max-streams 70000: field help %q", help)
	}
}

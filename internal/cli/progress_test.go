package cli

import (
	"bytes"
	"strings"
	"testing"

	"tails-server/internal/apitype"
)

// TestProgressNoteStays: on a terminal, what enable changed on the system
// ("note: disabled the system's own ngircd service ...") and warnings
// keep a line of their own; the next step does not draw over them.
func TestProgressNoteStays(t *testing.T) {
	pct := 10.0
	var tty bytes.Buffer
	b := newProgressBar(&tty, true)
	b.show(apitype.Progress{Service: "irc", Step: "ngircd already installed"})
	note := "note: disabled the system's own ngircd service (ngircd.service) so that it does not start at boot with its default configuration"
	b.show(apitype.Progress{Service: "irc", Step: note})
	b.show(apitype.Progress{Service: "irc", Step: "install: Unpacking", Percent: &pct})
	b.done()
	got := tty.String()
	if !strings.Contains(got, "\r\033[Kirc: "+note+"\n") {
		t.Fatalf("the note is not a line of its own, whole: %q", got)
	}
	after := got[strings.Index(got, note)+len(note)+1:]
	if !strings.HasPrefix(after, "\r\033[K[##") {
		t.Fatalf("the next step does not start on the line after the note: %q", after)
	}
}

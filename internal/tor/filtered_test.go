package tor

import (
	"errors"
	"strings"
	"testing"
)

// TestFilteredError: onion-grater's "510 Command filtered" becomes a
// *FilteredError naming the command and carrying the connection's hint,
// reported once per refusal; tor's own 510 stays a plain *ReplyError.
func TestFilteredError(t *testing.T) {
	c, f := newFake(t)
	var reported []string
	c.OnFiltered("install the profile", func(e *FilteredError) { reported = append(reported, e.Command) })
	ch := async(func() error { _, err := c.GetInfo(testCtx(t), "version"); return err })
	f.expect("GETINFO version")
	f.send("510 Command filtered")
	err := wait(t, ch)
	var fe *FilteredError
	if !errors.As(err, &fe) || fe.Command != "GETINFO" {
		t.Fatalf("err %v: want a FilteredError for GETINFO", err)
	}
	var re *ReplyError
	if !errors.As(err, &re) || re.Code != 510 {
		t.Fatalf("err %v does not wrap the 510 reply", err)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "filter refused GETINFO") || !strings.HasSuffix(msg, ": install the profile") {
		t.Fatalf("message %q", msg)
	}
	if len(reported) != 1 || reported[0] != "GETINFO" {
		t.Fatalf("reported %v", reported)
	}

	ch = async(func() error { return c.Signal(testCtx(t), "NEWNYM") })
	f.expect("SIGNAL NEWNYM")
	f.send(`510 Unrecognized command "SIGNAL"`)
	err = wait(t, ch)
	if errors.As(err, &fe) || !errors.As(err, &re) || re.Code != 510 {
		t.Fatalf("tor's own 510: %v", err)
	}
	if len(reported) != 1 {
		t.Fatalf("reported %v", reported)
	}
}

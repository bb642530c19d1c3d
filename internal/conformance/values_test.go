package conformance

import (
	"errors"
	"strings"
	"testing"

	"tails-server/internal/catalog"
)

func intp(i int) *int { return &i }

// TestValuesFor: per option type, the valid value passes the option's
// own rules and differs from the current one; the invalid one fails them.
func TestValuesFor(t *testing.T) {
	port := func() (int, error) { return 40001, nil }
	tests := []struct {
		o                  catalog.Option
		cur                string
		valid, want, inval string
		noValid            string // part of NoValid
	}{
		{catalog.Option{Name: "b", Type: catalog.TypeBool, Default: false}, "false", "true", "true", "maybe", ""},
		{catalog.Option{Name: "b", Type: catalog.TypeBool, Default: false}, "true", "false", "false", "maybe", ""},
		{catalog.Option{Name: "i", Type: catalog.TypeInt, Min: intp(1), Max: intp(10), Default: 10}, "10", "9", "9", "11", ""},
		{catalog.Option{Name: "i", Type: catalog.TypeInt, Min: intp(1), Default: 1}, "1", "2", "2", "0", ""},
		{catalog.Option{Name: "i", Type: catalog.TypeInt, Default: 5}, "5", "6", "6", "ten", ""},
		{catalog.Option{Name: "i", Type: catalog.TypeInt, Min: intp(3), Max: intp(3), Default: 3}, "3", "", "", "4", "no value other"},
		// A port: a free one, never the current one plus one.
		{catalog.Option{Name: "p", Type: catalog.TypePort, Default: 8080}, "8080", "40001", "40001", "65536", ""},
		{catalog.Option{Name: "p", Type: catalog.TypePort, Min: intp(9000), Max: intp(9001), Default: 9000}, "9000", "9001", "9001", "9002", ""},
		{catalog.Option{Name: "e", Type: catalog.TypeEnum, Choices: []string{"a", "b"}, Default: "a"}, "a", "b", "b", "no-such-choice", ""},
		{catalog.Option{Name: "e", Type: catalog.TypeEnum, Choices: []string{"only"}, Default: "only"}, "only", "", "", "no-such-choice", "no value other"},
		{catalog.Option{Name: "s", Type: catalog.TypeString, Default: "x"}, "x", "check", "check", "check\nsecond line", ""},
		// The first candidate its pattern takes.
		{catalog.Option{Name: "s", Type: catalog.TypeString, Default: "www", Pattern: `[a-z]+/[a-z]+`, PatternHelp: "a/b"}, "www", "", "", "check\nsecond line", "no value other"},
		{catalog.Option{Name: "s", Type: catalog.TypeString, Default: "12", Pattern: `[0-9]{1,3}`, PatternHelp: "digits"}, "12", "1", "1", "check\nsecond line", ""},
		{catalog.Option{Name: "t", Type: catalog.TypeText, Default: ""}, "", "check", "check", "check\x00nul", ""},
		// "" (none) is a valid value of a text that holds one.
		{catalog.Option{Name: "t", Type: catalog.TypeText, Default: ""}, "a\nb", "", "", "check\x00nul", ""},
		{catalog.Option{Name: "d", Type: catalog.TypeDuration, Default: ""}, "", "90m", "1h30m", "5 minutes", ""},
		{catalog.Option{Name: "start-at", Type: catalog.TypeTime, Default: ""}, "", "", "", "2001-01-01T00:00:00Z", "a time in the future"},
	}
	for _, tt := range tests {
		v := valuesFor(&tt.o, tt.cur, port)
		if v.Valid != tt.valid || v.Want != tt.want || v.Invalid != tt.inval || !strings.Contains(v.NoValid, tt.noValid) || v.HasValid != (tt.noValid == "") {
			t.Errorf("%s %s (current %q): %+v; want valid %q (%q), invalid %q, no valid %q", tt.o.Type, tt.o.Name, tt.cur, v, tt.valid, tt.want, tt.inval, tt.noValid)
		}
	}
}

// TestValuesForSecret: a generated secret (its value never shown) that
// its pattern takes; a port option whose free ports are out of bounds
// falls back to the neighbours.
func TestValuesForSecret(t *testing.T) {
	o := catalog.Option{Name: "pw", Type: catalog.TypeSecret, Generate: &catalog.Generate{Length: 20, Charset: "hex"}, Pattern: `[0-9a-f]{20}`, PatternHelp: "hex"}
	v := valuesFor(&o, "00000000000000000000", nil)
	if len(v.Valid) != 20 || v.Want != v.Valid || v.Invalid == "" {
		t.Fatalf("secret: %+v", v)
	}
	p := catalog.Option{Name: "p", Type: catalog.TypePort, Min: intp(2000), Max: intp(2010), Default: 2010}
	busy := func() (int, error) { return 0, errors.New("no port") }
	if v := valuesFor(&p, "2010", busy); v.Valid != "2009" || v.Invalid != "2011" {
		t.Fatalf("port without a free one: %+v", v)
	}
}

// TestHostileApplies: free text only.
func TestHostileApplies(t *testing.T) {
	for typ, want := range map[string]bool{
		catalog.TypeString: true, catalog.TypeText: true, catalog.TypeSecret: true,
		catalog.TypeBool: false, catalog.TypeInt: false, catalog.TypePort: false, catalog.TypeEnum: false,
		catalog.TypeDuration: false, catalog.TypeTime: false,
	} {
		if got := hostileApplies(&catalog.Option{Type: typ}); got != want {
			t.Errorf("%s: %v", typ, got)
		}
	}
}

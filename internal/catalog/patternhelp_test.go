package catalog

import (
	"regexp"
	"strings"
	"testing"

	catalogfs "tails-server/services"
)

// regexpRun finds what only a regular expression holds: brackets, braces,
// backslashes, anchors, "(?", and a quantifier right after a group or a
// class ("]+", ")*", ")?"), or a star anywhere.
var regexpRun = regexp.MustCompile(`[\[\]{}\\^$*]|\(\?|[\])][+?]`)

// refusedValues are tried on every patterned option until one is refused
// by its pattern (and would pass without it): what users type by mistake.
var refusedValues = []string{
	"../etc", "Bad Room", "#general x", "has spaces in it", "x", "",
	"not a key", "alice", "ssh-dss AAAAB3NzaC1kc3M= old", "/abs/path", "a//b", "é",
}

// TestEveryPatternHasWords refuses a value for every option of the
// built-in catalog that has a pattern, and checks that the error says the
// option's rule in words (pattern_help), names the option, and quotes no
// piece of regular expression.
func TestEveryPatternHasWords(t *testing.T) {
	cat, errs := Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	n := 0
	for _, name := range cat.Names() {
		s, _ := cat.Get(name)
		for i := range s.Options {
			o := &s.Options[i]
			if o.Pattern == "" {
				continue
			}
			n++
			t.Run(name+"/"+o.Name, func(t *testing.T) {
				if o.PatternHelp == "" {
					t.Fatal("no pattern_help")
				}
				if m := regexpRun.FindString(o.PatternHelp); m != "" {
					t.Errorf("pattern_help %q holds %q, a piece of regexp", o.PatternHelp, m)
				}
				free := *o
				free.Pattern, free.re = "", nil
				var msg, value string
				for _, v := range refusedValues {
					if _, err := free.Validate(v); err != nil {
						continue // refused for another reason
					}
					if _, err := o.Validate(v); err != nil {
						msg, value = err.Error(), v
						break
					}
				}
				if msg == "" {
					t.Fatalf("none of %q is refused by the pattern %s", refusedValues, o.Pattern)
				}
				t.Logf("%q: %s", value, msg)
				if !strings.HasPrefix(msg, `option "`+o.Name+`": `) || strings.Contains(msg, "\n") {
					t.Errorf("error %q is not one line naming the option", msg)
				}
				if !strings.Contains(msg, o.PatternHelp) {
					t.Errorf("error %q does not say the rule %q", msg, o.PatternHelp)
				}
				if strings.Contains(msg, o.Pattern) {
					t.Errorf("error %q quotes the pattern", msg)
				}
				if m := regexpRun.FindString(msg); m != "" {
					t.Errorf("error %q holds %q, a piece of regexp", msg, m)
				}
				if o.Type == TypeSecret && value != "" && strings.Contains(msg, value) {
					t.Errorf("error %q echoes the secret", msg)
				}
			})
		}
	}
	if n < 12 {
		t.Errorf("%d patterned options in the catalog, want at least 12", n)
	}
}

// TestIssueRefusals are the refusals of the user's report, each in words.
func TestIssueRefusals(t *testing.T) {
	cat, errs := Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	tests := []struct{ service, option, value, want string }{
		{"irc", "channels", "general news", `option "channels": value "general news" is not valid: use 1 to 20 channel names separated by commas`},
		{"fileshare", "shared-dir", "../etc", `option "shared-dir": value "../etc" is not valid: use a folder inside the service's data folder`},
		{"xmpp", "room", "Bad Room", `option "room": value "Bad Room" is not valid: use 1 to 64 lower-case letters`},
		{"irc", "password", "with spaces in", `option "password": value is not valid: use 8 to 64 characters`},
		{"sftp", "authorized-keys", "# ours\nssh-dss AAAAB3NzaC1kc3M= old", `option "authorized-keys": line 2 is not valid: paste one SSH public key a line`},
		{"xmpp", "accounts", "alice", `option "accounts": line 1 is not valid: write one account a line`},
	}
	for _, tt := range tests {
		s, _ := cat.Get(tt.service)
		o, _ := s.Option(tt.option)
		_, err := o.Validate(tt.value)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s %s %q: %v, want %s...", tt.service, tt.option, tt.value, err, tt.want)
		}
	}
}

// TestChannelsTakeAHash: irc's channels may be typed with their '#', as
// users do; the config gets one '#' either way.
func TestChannelsTakeAHash(t *testing.T) {
	cat, errs := Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	s, _ := cat.Get("irc")
	o, _ := s.Option("channels")
	for _, v := range []string{"#general", "#general,news", "general,#news", "general"} {
		if _, err := o.Validate(v); err != nil {
			t.Errorf("channels %q: %v", v, err)
		}
	}
	for _, v := range []string{"##general", "#", "general,", "a b"} {
		if _, err := o.Validate(v); err == nil {
			t.Errorf("channels %q accepted", v)
		}
	}
	conf, err := RenderConfig(s, s.ConfigFiles[0], map[string]string{"channels": "#general,news", "password": "p4ssword", "operator-password": "0perator"},
		Env{Config: "/config", Data: "/data", Listen: "127.0.0.1", Port: 6667})
	if err != nil {
		t.Fatal(err)
	}
	got := regexp.MustCompile(`(?m)^Name = #.*$`).FindAllString(string(conf), -1)
	if strings.Join(got, "|") != "Name = #general|Name = #news" {
		t.Errorf("channel lines %q, want #general and #news", got)
	}
}

package grater

import "testing"

const testProfile = `
- apparmor-profiles: ['/usr/bin/x']
  users: ['root']
  commands:
    getinfo:
      - 'version'
      - 'a|b'
      - '(c|d)'
    SIGNAL:
      - ''
      - pattern: 'NEWNYM'
    HSFETCH:
  confs:
    SocksPort:
    DisableNetwork: ['0', '1', '']
  events:
    hs_desc:
    STATUS_CLIENT: {suppress: true}
`

func parse(t *testing.T, s string) *Filter {
	t.Helper()
	fs, err := Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return fs[0]
}

// TestAllows pins onion-grater's matching rule: the whole argument string
// against each pattern (anchored at the start, "$" glued on), the command
// name in any case, no arguments only with the empty pattern, SETEVENTS by
// its events, authentication answered by the filter itself.
func TestAllows(t *testing.T) {
	f := parse(t, testProfile)
	for _, c := range []struct {
		line string
		want bool
	}{
		{"GETINFO version", true},
		{"getinfo version", true},        // command name in any case
		{"GetInfo version\r\n", true},    // line end stripped
		{"GETINFO VERSION", false},       // arguments are case-sensitive
		{"GETINFO version extra", false}, // the whole string
		{"GETINFO xversion", false},      // from the start
		{"GETINFO", false},               // no arguments: needs ''
		{"GETINFO a", true},              //
		{"GETINFO a trailing", true},     // 'a|b' + '$' anchors b only, as in Python
		{"GETINFO b trailing", false},    //
		{"GETINFO c trailing", false},    // grouped: both anchored
		{"GETINFO d", true},              //
		{"SIGNAL", true},                 // the empty pattern
		{"SIGNAL NEWNYM", true},          // {pattern: ...}
		{"SIGNAL HALT", false},           //
		{"HSFETCH abc", false},           // listed without patterns: nothing
		{"DEL_ONION abc", false},         // not listed
		{"GETCONF SocksPort", true},      // confs: GETCONF
		{"GETCONF SocksPort DNSPort", false},
		{"GETCONF", false},                 // a key is needed
		{"SETCONF DisableNetwork=1", true}, // confs: listed values
		{"SETCONF DisableNetwork", true},   // '' listed: reset
		{"SETCONF DisableNetwork=2", false},
		{"SETCONF SocksPort=9050", false},
		{"SETEVENTS HS_DESC", true},
		{"SETEVENTS hs_desc status_client", true},
		{"SETEVENTS", true}, // unsubscribing
		{"SETEVENTS HS_DESC STREAM", false},
		{"PROTOCOLINFO 1", true},
		{"AUTHENTICATE 0123", true},
		{"QUIT", true},
		{"   ", false},
	} {
		got, why := f.Allows(c.line)
		if got != c.want {
			t.Errorf("%q: allowed %v (%s), want %v", c.line, got, why, c.want)
		}
	}
}

// TestNoConfs: without confs onion-grater's GETCONF rule is "()", which
// lets GETCONF without arguments through, and nothing else.
func TestNoConfs(t *testing.T) {
	f := parse(t, "- users: ['*']\n  apparmor-profiles: ['*']\n")
	for line, want := range map[string]bool{"GETCONF": true, "GETCONF SocksPort": false, "SETCONF": false} {
		if got, _ := f.Allows(line); got != want {
			t.Errorf("%q: allowed %v, want %v", line, got, want)
		}
	}
}

// TestParseRefuses: a key onion-grater does not know, a bad pattern, a rule
// without pattern, an empty profile.
func TestParseRefuses(t *testing.T) {
	for _, s := range []string{
		"- users: ['root']\n  command: {}\n",
		"- users: ['root']\n  commands: {GETINFO: ['(']}\n",
		"- users: ['root']\n  commands: {GETINFO: [{replacement: x}]}\n",
		"",
	} {
		if _, err := Parse([]byte(s)); err == nil {
			t.Errorf("%q: parsed", s)
		}
	}
}

// TestMatch: onion-grater serves a local client by the one filter whose
// every qualifier lists it (or "*").
func TestMatch(t *testing.T) {
	fs, err := Parse([]byte("- {name: a, apparmor-profiles: ['/usr/bin/x'], users: ['root']}\n- {name: b, apparmor-profiles: ['*'], users: ['amnesia']}\n- {name: c, users: ['debian-tor']}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f, err := Match(fs, "/usr/bin/x", "root"); err != nil || f.Name != "a" {
		t.Errorf("root's x: %v %v", f, err)
	}
	if f, err := Match(fs, "/usr/bin/y", "amnesia"); err != nil || f.Name != "b" {
		t.Errorf("amnesia's y: %v %v", f, err)
	}
	for _, who := range [][2]string{{"/usr/bin/y", "root"}, {"/usr/bin/tor", "debian-tor"}} {
		if _, err := Match(fs, who[0], who[1]); err == nil {
			t.Errorf("%v: matched", who)
		}
	}
}

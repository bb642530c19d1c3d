package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// helpCall is a command line that asks for help, and the usage line its
// output must start with.
type helpCall struct {
	args  []string
	usage string
}

// helpCalls are -h, --help and `help ...` for every command and every
// verb of the command table, and the top level's own.
func helpCalls() []helpCall {
	top := "usage: tails-server [--socket PATH] [-o yaml|json] COMMAND [ARGS]"
	calls := []helpCall{
		{[]string{"--help"}, top}, {[]string{"-h"}, top}, {[]string{"-help"}, top}, {[]string{"help"}, top},
		{[]string{"-o", "json", "--help"}, top}, {[]string{"--socket", "/nonexistent", "-h"}, top},
		{[]string{"help", "--help"}, top}, {[]string{"help", "-h"}, top},
	}
	for _, c := range commands {
		if c.name == "help" {
			continue
		}
		words := [][]string{{c.name}}
		for _, s := range c.subs {
			words = append(words, []string{c.name, s.name})
		}
		for _, w := range words {
			usage := "usage: tails-server " + strings.Join(w, " ")
			for _, flag := range []string{"--help", "-h", "-help", "--help=true"} {
				calls = append(calls, helpCall{append(append([]string{}, w...), flag), usage})
			}
			// Help before the verb, after the global flags, and as the
			// help command.
			calls = append(calls,
				helpCall{append([]string{"-o", "json"}, append(append([]string{}, w...), "-h")...), usage},
				helpCall{append([]string{"help"}, w...), usage})
		}
	}
	return calls
}

func TestEveryVerbHelp(t *testing.T) {
	// No daemon may be asked anything.
	t.Setenv("TAILS_SERVER_SOCKET", filepath.Join(t.TempDir(), "none.sock"))
	for _, call := range helpCalls() {
		var out, errb bytes.Buffer
		code := Main(context.Background(), call.args, &out, &errb)
		if code != ExitOK || errb.Len() > 0 {
			t.Errorf("%q: exit %d, stderr %q; want exit 0 and the usage", call.args, code, errb.String())
			continue
		}
		first, _, _ := strings.Cut(out.String(), "\n")
		if first != call.usage && !strings.HasPrefix(first, call.usage+" ") {
			t.Errorf("%q: usage line %q, want %q...", call.args, first, call.usage)
		}
		if !strings.HasPrefix(call.usage, "usage: tails-server [") && !strings.Contains(out.String(), "\nflags:\n") {
			t.Errorf("%q: no flags listed:\n%s", call.args, out.String())
		}
	}
}

// A verb's help after its positional arguments is the verb's.
func TestVerbHelpAfterArguments(t *testing.T) {
	t.Setenv("TAILS_SERVER_SOCKET", filepath.Join(t.TempDir(), "none.sock"))
	for _, call := range []helpCall{
		{[]string{"client", "show", "web", "alice", "--help"}, "usage: tails-server client show SERVICE NAME"},
		{[]string{"enable", "web", "-h"}, "usage: tails-server enable SERVICE"},
		{[]string{"testnet", "up", "--dir", "/nonexistent", "-h"}, "usage: tails-server testnet up --dir DIR"},
		{[]string{"isolation", "run", "browser", "-h", "--", "true"}, "usage: tails-server isolation run APP"},
		{[]string{"settings", "set", "persist-tor-state", "true", "--help"}, "usage: tails-server settings set persist-tor-state"},
	} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), call.args, &out, &errb); code != ExitOK || !strings.HasPrefix(out.String(), call.usage) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", call.args, code, out.String(), errb.String())
		}
	}
}

// The help lists, for client show, exactly the formats the command
// accepts.
func TestHelpClientShowFormats(t *testing.T) {
	t.Setenv("TAILS_SERVER_SOCKET", filepath.Join(t.TempDir(), "none.sock"))
	var out bytes.Buffer
	Main(context.Background(), []string{"help"}, &out, &out)
	m := regexp.MustCompile(`(?m)^  client show .*--format ([a-z|-]+)\]`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("help has no client show --format:\n%s", out.String())
	}
	listed := strings.Split(m[1], "|")
	for _, f := range listed {
		var o, e bytes.Buffer
		// Not a usage error: the format is taken, and the daemon (absent)
		// is asked.
		if code := Main(context.Background(), []string{"client", "show", "web", "alice", "--format", f}, &o, &e); code != ExitNoDaemon {
			t.Errorf("--format %s (listed in help): exit %d, %s", f, code, e.String())
		}
	}
	var o, e bytes.Buffer
	if code := Main(context.Background(), []string{"client", "show", "web", "alice", "--format", "xml"}, &o, &e); code != ExitUsage {
		t.Fatalf("--format xml: exit %d", code)
	}
	// The error names what is accepted: the same list.
	m = regexp.MustCompile(`use ([a-z, -]+)\n`).FindStringSubmatch(e.String())
	if m == nil {
		t.Fatalf("--format xml: %q names no formats", e.String())
	}
	accepted := strings.FieldsFunc(strings.ReplaceAll(m[1], " or ", ","), func(r rune) bool { return r == ',' || r == ' ' })
	if strings.Join(accepted, "|") != strings.Join(listed, "|") {
		t.Errorf("help lists --format %s, the command accepts %s", strings.Join(listed, "|"), strings.Join(accepted, "|"))
	}
}

// An unknown command or verb is a usage error of one line that says
// where to look.
func TestUnknownVerbOneLine(t *testing.T) {
	t.Setenv("TAILS_SERVER_SOCKET", filepath.Join(t.TempDir(), "none.sock"))
	for _, args := range [][]string{{"nosuch"}, {"help", "nosuch"}, {"-o", "json", "frob", "--help"}, {"client", "frob"}, {"files", "frob", "web"}, {"isolation", "frob"}, {"testnet", "frob"}} {
		var out, errb bytes.Buffer
		code := Main(context.Background(), args, &out, &errb)
		if code != ExitUsage || out.Len() > 0 || strings.Count(errb.String(), "\n") != 1 || !strings.HasPrefix(errb.String(), "tails-server: error: unknown ") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and one line", args, code, out.String(), errb.String())
		}
	}
}

package cli

import (
	"bytes"
	"context"
	"flag"
	"os/exec"
	"strings"
	"testing"

	"tails-server/internal/apitype"
)

func TestParseFlagsAnywhere(t *testing.T) {
	e := &env{output: "yaml"}
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	format := fs.String("format", "", "")
	pos, err := parse(fs, e, []string{"show", "web", "--format", "auth-private", "alice", "-o", "json"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pos, " ") != "show web alice" || *format != "auth-private" || e.output != "json" {
		t.Fatalf("pos %q format %q output %q", pos, *format, e.output)
	}
	pos, err = parse(flag.NewFlagSet("x", flag.ContinueOnError), &env{output: "yaml"}, []string{"a", "--", "--not-a-flag"})
	if err != nil || strings.Join(pos, " ") != "a --not-a-flag" {
		t.Fatalf("after --: %q %v", pos, err)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"nosuch"}, {"-o", "xml", "list"}, {"enable"}, {"info", "a", "b"}, {"client", "frob"}, {"daemon", "--network", "x", "--state", "/tmp/x"}} {
		var out, errb bytes.Buffer
		code := Main(context.Background(), args, &out, &errb)
		if code != ExitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, ExitUsage)
		}
		if !strings.HasPrefix(errb.String(), "tails-server: error: ") || strings.Count(errb.String(), "\n") > 2 {
			t.Errorf("%q: stderr %q", args, errb.String())
		}
	}
}

func TestHelpListsCommands(t *testing.T) {
	var out bytes.Buffer
	if code := Main(context.Background(), []string{"help"}, &out, &out); code != 0 {
		t.Fatal(code)
	}
	for _, c := range []string{"daemon", "testnet", "enable", "client", "status"} {
		if !strings.Contains(out.String(), c) {
			t.Errorf("help lacks %s", c)
		}
	}
}

func TestVerbHelp(t *testing.T) {
	for _, verb := range []string{"enable", "set-option", "client", "testnet", "daemon", "logs"} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), []string{verb, "--help"}, &out, &errb); code != 0 {
			t.Errorf("%s --help: exit %d, %s", verb, code, errb.String())
		}
		if !strings.Contains(out.String(), "usage: tails-server "+verb) || !strings.Contains(out.String(), "-socket") {
			t.Errorf("%s --help:\n%s", verb, out.String())
		}
	}
}

func TestCompletionScriptParses(t *testing.T) {
	var out bytes.Buffer
	if code := Main(context.Background(), []string{"completion", "bash"}, &out, &out); code != 0 {
		t.Fatal(out.String())
	}
	cmd := exec.Command("bash", "-n")
	cmd.Stdin = &out
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, b)
	}
}

func TestProgressBar(t *testing.T) {
	pct := 50.0
	var plain bytes.Buffer
	b := newProgressBar(&plain, false)
	b.show(apitype.Progress{Service: "web", Step: "starting"})
	b.show(apitype.Progress{Service: "web", Step: "install: Unpacking", Percent: &pct})
	b.show(apitype.Progress{Service: "web", Step: "install: Unpacking", Percent: &pct})
	b.done()
	if got := plain.String(); got != "web: starting\nweb: [############            ]  50% install: Unpacking\n" {
		t.Fatalf("plain progress:\n%q", got)
	}
	var tty bytes.Buffer
	b = newProgressBar(&tty, true)
	b.show(apitype.Progress{Service: "web", Step: "install: Unpacking", Percent: &pct})
	b.done()
	if got := tty.String(); !strings.HasPrefix(got, "\r\033[K[############") || !strings.HasSuffix(got, "\r\033[K") {
		t.Fatalf("terminal progress: %q", got)
	}
}

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tails-server/internal/testenv"
)

// The real binary: --help and help print the usage on stdout and exit 0,
// so does a verb's --help; an unknown verb is one line and exit 2; the
// man page it writes renders without a warning.
func TestCLIUsageAndManPage(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}, {"enable", "--help"}, {"client", "show", "--help"}, {"help", "isolation", "run"}} {
		out, stderr, code := cli(t, nil, args...)
		if code != 0 || stderr != "" || !strings.HasPrefix(out, "usage: tails-server") {
			t.Errorf("%q: exit %d, stderr %q, stdout %.80q", args, code, stderr, out)
		}
	}
	out, stderr, code := cli(t, nil, "frobnicate")
	if code != 2 || out != "" || strings.Count(stderr, "\n") != 1 {
		t.Errorf("unknown verb: exit %d, stderr %q", code, stderr)
	}
	groff := testenv.RequireProgram(t, "groff")
	dir := filepath.Join(t.TempDir(), "usr", "share", "man", "man1")
	if _, stderr, code := cli(t, nil, "docs", "man", dir); code != 0 {
		t.Fatalf("docs man: exit %d, %s", code, stderr)
	}
	g := exec.Command(groff, "-man", "-Tutf8", "-ww", filepath.Join(dir, "tails-server.1"))
	var gerr strings.Builder
	g.Stderr = &gerr
	page, err := g.Output()
	if err != nil || gerr.Len() > 0 || len(page) < 10000 {
		t.Fatalf("groff -ww: %v\n%s", err, gerr.String())
	}
}

// With a real daemon running, the bash and fish scripts complete the
// catalog's service names and a service's options, as the daemon says.
func TestCompletionAsksTheDaemon(t *testing.T) {
	requireNet(t)
	bash := testenv.RequireProgram(t, "bash")
	fish := testenv.RequireProgram(t, "fish")
	tmp := t.TempDir()
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))
	env := []string{"TAILS_SERVER_SOCKET=" + d.socket, "HOME=" + tmp}
	script := func(shell string) string {
		out, stderr, code := cli(t, nil, "completion", shell)
		if code != 0 {
			t.Fatalf("completion %s: %s", shell, stderr)
		}
		p := filepath.Join(tmp, "completion."+shell)
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(name string, args ...string) string {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		return string(out)
	}
	bashScript, fishScript := script("bash"), script("fish")
	for _, tc := range []struct{ line, want string }{
		{"tails-server enable we", "web"},
		{"tails-server get-option web ", "title"},
		{"tails-server set-option web ti", "title"},
	} {
		words := strings.Split(tc.line, " ")
		b := run(bash, append([]string{"-c", `source "$1"; COMP_WORDS=("${@:2}"); COMP_CWORD=$(($# - 2)); _tails_server; printf '%s\n' "${COMPREPLY[@]}"`, "bash", bashScript}, words...)...)
		if !containsLine(b, tc.want) {
			t.Errorf("bash: %q completes to %q, want %s among them", tc.line, b, tc.want)
		}
		f := run(fish, "--no-config", "-c", `source $argv[1]; complete -C $argv[2]`, fishScript, tc.line)
		if !containsLine(f, tc.want) {
			t.Errorf("fish: %q completes to %q, want %s among them", tc.line, f, tc.want)
		}
	}
}

// containsLine says whether one of out's lines is word (before a tab).
func containsLine(out, word string) bool {
	for _, l := range strings.Split(out, "\n") {
		if w, _, _ := strings.Cut(l, "\t"); w == word {
			return true
		}
	}
	return false
}

package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"tails-server/internal/apitype"
	"tails-server/internal/testenv"
)

// completionCase is a command line being completed (its last word the one
// under the cursor) and the words the shell must offer, in order.
type completionCase struct {
	line   string
	expect string
}

// completionCases hold, with a daemon answering (fakeAPI below), verbs,
// flags, their values, and service, option and client names.
var completionCases = []completionCase{
	{"tails-server en", "enable"},
	{"tails-server cl", "client"},
	{"tails-server client s", "show"},
	{"tails-server isolation a", "apps audit"},
	{"tails-server info w", "web"},
	{"tails-server enable ", "web mumble"},
	{"tails-server enable web --w", "--wait"},
	{"tails-server -o j", "json"},
	{"tails-server get-option web ", "port title"},
	{"tails-server set-option web t", "title"},
	{"tails-server client show web ", "alice bob"},
	{"tails-server client show web alice --format a", "auth-private"},
	{"tails-server share web --client b", "bob"},
	{"tails-server completion ", "bash zsh fish"},
	{"tails-server daemon --network s", "system"},
	{"tails-server testnet client ", "start env add"},
}

// completionAPI is a daemon that knows two services, web's options and
// clients.
func completionAPI(t *testing.T) string {
	return fakeAPI(t, map[string]any{
		"/services": []apitype.Service{{Name: "web", Title: "Web site"}, {Name: "mumble", Title: "Mumble"}},
		"/services/web": apitype.Service{Name: "web", Options: []apitype.Option{
			{Name: "port", Title: "Port"}, {Name: "title", Title: "Title of the site"},
		}},
		"/services/web/clients": []apitype.Client{{Name: "alice"}, {Name: "bob"}},
	})
}

// completionScript writes the script `completion SHELL` prints for bin.
func completionScript(t *testing.T, bin, shell string) string {
	t.Helper()
	gen := exec.Command(bin, "completion", shell)
	gen.Env = append(os.Environ(), mainEnv+"=1")
	script, err := gen.Output()
	if err != nil {
		t.Fatalf("completion %s: %v", shell, err)
	}
	path := filepath.Join(t.TempDir(), "completion."+shell)
	if err := os.WriteFile(path, script, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// shellCompleter runs a completion in a shell and returns the words it
// offers.
type shellCompleter func(t *testing.T, line string, env []string) string

// runShell runs the shell program with args and env, in a directory
// holding the file web.yaml and the folder webdir, and returns its
// output's words, sorted (the order is the shell's), joined by spaces.
func runShell(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(cmd.Dir, "web.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(cmd.Dir, "webdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append([]string{mainEnv + "=1", "PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Errorf("%s %q: %v\n%s%s", name, args, err, out.String(), errb.String())
	}
	return sortedWords(out.String())
}

func sortedWords(s string) string {
	w := strings.Fields(s)
	sort.Strings(w)
	return strings.Join(w, " ")
}

// bashCompleter sources the script and runs its function on the words,
// as bash does on TAB.
func bashCompleter(t *testing.T, bin string) shellCompleter {
	bash := testenv.RequireProgram(t, "bash")
	script := completionScript(t, bin, "bash")
	return func(t *testing.T, line string, env []string) string {
		args := append([]string{"-c", `set -e
source "$1"
COMP_WORDS=("${@:2}"); COMP_CWORD=$(($# - 2)); COMPREPLY=()
_tails_server
printf '%s\n' "${COMPREPLY[@]}"`, "bash", script}, strings.Split(line, " ")...)
		return runShell(t, env, bash, args...)
	}
}

// zshCompleter loads the script as zsh's completion system does (from
// $fpath, after compinit) and runs it on the words, with compadd and
// _files recording what they are given: outside an interactive line
// editor, zsh has no other way to show the matches.
func zshCompleter(t *testing.T, bin string) shellCompleter {
	zsh := testenv.RequireProgram(t, "zsh")
	dir := t.TempDir()
	src, err := os.ReadFile(completionScript(t, bin, "zsh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "_tails-server"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	return func(t *testing.T, line string, env []string) string {
		return runShell(t, env, zsh, "-f", "-c", `fpath=("$1" $fpath)
autoload -Uz compinit && compinit -u -d "$1/.zcompdump"
[[ $_comps[tails-server] == _tails-server ]] || { echo "compinit did not register _tails-server for tails-server: ${_comps[tails-server]}" >&2; exit 1; }
compadd() {
	local arr
	while (( $# )); do
		case $1 in
		-a) arr=$2; shift ;;
		-d) shift ;;
		esac
		shift
	done
	print -l -- "${(@P)arr}"
}
_files() { print -- FILES }
words=(${(z)2})
[[ $2 == *' ' ]] && words+=('')
CURRENT=${#words}
_tails-server || true # no match: status 1`, "zsh", dir, line)
	}
}

// fishCompleter loads the script into fish and asks fish's own completion
// machinery (complete -C) for the line.
func fishCompleter(t *testing.T, bin string) shellCompleter {
	fish := testenv.RequireProgram(t, "fish")
	script := completionScript(t, bin, "fish")
	return func(t *testing.T, line string, env []string) string {
		out := runShell(t, env, fish, "--no-config", "-c", `source $argv[1]; complete -C $argv[2] | string replace -r '\t.*' ''; true`, script, line)
		return out
	}
}

// Every shell's script completes verbs, flags and their values, and the
// daemon's service, option and client names; with no daemon, verbs and
// flags still complete and names silently do not.
func TestCompletionShells(t *testing.T) {
	sock := completionAPI(t)
	bin := installCopy(t, filepath.Join(t.TempDir(), "my bin's $HOME"), "tails-server")
	for _, sh := range []struct {
		name string
		new  func(*testing.T, string) shellCompleter
		// What a file name's completion looks like here: zsh's _files
		// is recorded.
		files string
	}{{"bash", bashCompleter, "web.yaml webdir"}, {"zsh", zshCompleter, "FILES"}, {"fish", fishCompleter, "web.yaml webdir/"}} {
		t.Run(sh.name, func(t *testing.T) {
			comp := sh.new(t, bin)
			for _, tc := range completionCases {
				if got := comp(t, tc.line, []string{"TAILS_SERVER_SOCKET=" + sock}); got != sortedWords(tc.expect) {
					t.Errorf("%q completes to %q, want %q", tc.line, got, tc.expect)
				}
			}
			for _, line := range []string{"tails-server check w", "tails-server daemon --state w", "tails-server files add web w", "tails-server isolation run browser -- w"} {
				if got := comp(t, line, []string{"TAILS_SERVER_SOCKET=" + sock}); got != sortedWords(sh.files) {
					t.Errorf("%q completes to %q, want the file names %q", line, got, sh.files)
				}
			}
			none := []string{"TAILS_SERVER_SOCKET=" + filepath.Join(t.TempDir(), "none.sock")}
			for line, expect := range map[string]string{
				"tails-server enable ":    "",
				"tails-server stat":       "status",
				"tails-server info web -": "--details --show-secrets --socket -o",
			} {
				if got := comp(t, line, none); got != sortedWords(expect) {
					t.Errorf("no daemon: %q completes to %q, want %q", line, got, expect)
				}
			}
		})
	}
}

// A package's scripts (`completion SHELL --bin tails-server`) run the
// tails-server on PATH.
func TestCompletionPackaged(t *testing.T) {
	bash := testenv.RequireProgram(t, "bash")
	dir := filepath.Join(t.TempDir(), "usr", "bin")
	bin := installCopy(t, dir, "tails-server")
	var script bytes.Buffer
	gen := exec.Command(bin, "completion", "bash", "--bin", "tails-server")
	gen.Env = append(os.Environ(), mainEnv+"=1")
	gen.Stdout = &script
	if err := gen.Run(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(script.String(), dir) {
		t.Fatalf("the script names the build's path %s:\n%s", dir, script.String())
	}
	path := filepath.Join(t.TempDir(), "tails-server")
	if err := os.WriteFile(path, script.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got := runShell(t, []string{"PATH=" + dir + ":/usr/bin:/bin"}, bash, "-c", `source "$1"
COMP_WORDS=(tails-server en); COMP_CWORD=1; _tails_server; echo "${COMPREPLY[*]}"`, "bash", path)
	if got != "enable" {
		t.Fatalf("tails-server en completes to %q, want enable", got)
	}
}

// zptyScript drives an interactive zsh on a pseudo-terminal: compinit with
// the script's directory in $fpath, then the line $2 and a TAB; it prints
// what the terminal showed once $3 shows (or after 10 s).
const zptyScript = `setopt extendedglob
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z "PS1='%% '; fpath=(${(q)1} \$fpath); autoload -Uz compinit; compinit -u -d ${(q)1}/.zcompdump; unsetopt beep; LISTMAX=1000; print READY\$((40+2))"
out=
for i in {1..100}; do
	zpty -r -t z chunk && out+=$chunk
	[[ $out == *READY42* ]] && break
	sleep 0.1
done
out=
zpty -w -n z "$2"$'\t'
for i in {1..100}; do
	zpty -r -t z chunk && out+=$chunk
	[[ ${out//$'\e'\[[0-9;]#[A-Za-z]/} == *$3* ]] && break
	sleep 0.1
done
print -r -- "$out"
zpty -d z`

// In an interactive zsh, TAB completes with the script loaded from
// $fpath: a single match is put on the line, several are listed with
// their descriptions.
func TestCompletionZshInteractive(t *testing.T) {
	zsh := testenv.RequireProgram(t, "zsh")
	sock := completionAPI(t)
	bin := installCopy(t, t.TempDir(), "tails-server")
	dir := t.TempDir()
	src, err := os.ReadFile(completionScript(t, bin, "zsh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "_tails-server"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	escapes := regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]|[\x00-\x08\x0e-\x1f]`)
	for _, tc := range []struct{ line, want string }{
		{"tails-server en", "tails-server enable "},
		{"tails-server info w", "tails-server info web "},
		{"tails-server isolation a", "audit  -- follow tor's streams"},
		{"tails-server get-option web ", "title  -- Title of the site"},
		{"tails-server client show web a", "tails-server client show web alice "},
	} {
		cmd := exec.Command(zsh, "-f", "-c", zptyScript, "zsh", dir, tc.line, tc.want)
		cmd.Env = append(os.Environ(), mainEnv+"=1", "TAILS_SERVER_SOCKET="+sock, "HOME="+t.TempDir(), "TERM=xterm")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", tc.line, err, out)
		}
		if screen := escapes.ReplaceAllString(string(out), ""); !strings.Contains(screen, tc.want) {
			t.Errorf("%q then TAB shows %q, want %q in it", tc.line, screen, tc.want)
		}
	}
}

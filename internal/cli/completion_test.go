package cli

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tails-server/internal/apitype"
	"tails-server/internal/testenv"
)

// installCopy copies the test binary (which runs the command line with
// mainEnv=1) to dir/name and returns its path.
func installCopy(t *testing.T, dir, name string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(dir, name)
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// The script from `completion bash` completes service names for a binary
// that is not on PATH (bin/tails-server), by running that binary.
func TestCompletionRunsItsOwnBinary(t *testing.T) {
	bash := testenv.RequireProgram(t, "bash")
	sock := fakeAPI(t, map[string]any{"/services": []apitype.Service{
		{Name: "web", Title: "Web site"}, {Name: "lighttpd", Title: "Lighttpd"}, {Name: "mumble", Title: "Mumble"},
	}})
	// A directory off PATH, whose name needs quoting in a shell.
	bin := installCopy(t, filepath.Join(t.TempDir(), "my bin's $HOME"), "tails-server")
	gen := exec.Command(bin, "completion", "bash")
	gen.Env = append(os.Environ(), mainEnv+"=1")
	script, err := gen.Output()
	if err != nil {
		t.Fatalf("completion bash: %v", err)
	}
	scriptFile := filepath.Join(t.TempDir(), "completion.bash")
	if err := os.WriteFile(scriptFile, script, 0o644); err != nil {
		t.Fatal(err)
	}
	// complete WORDS... runs the completion function on the words (the
	// last one being completed) and prints COMPREPLY.
	prelude := `set -e
source "$1"
complete -p tails-server >/dev/null
complete -p "$2" >/dev/null
if command -v tails-server >/dev/null; then echo "tails-server is on PATH: $(command -v tails-server)"; exit 1; fi
comp() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _tails_server || true; echo "${COMPREPLY[*]}"; }
`
	tests := []struct {
		words  []string
		env    []string // besides mainEnv and PATH
		expect string
	}{
		{[]string{"bin/tails-server", "info", "w"}, []string{"TAILS_SERVER_SOCKET=" + sock}, "web"},
		{[]string{bin, "enable", ""}, []string{"TAILS_SERVER_SOCKET=" + sock}, "web lighttpd mumble"},
		{[]string{"tails-server", "client", "show", "l"}, []string{"TAILS_SERVER_SOCKET=" + sock}, "lighttpd"},
		{[]string{"bin/tails-server", "--socket", sock, "-o", "json", "share", "m"}, nil, "mumble"},
		{[]string{"bin/tails-server", "cl"}, nil, "client"},
		{[]string{"bin/tails-server", "isolation", "a"}, nil, "apps audit"},
		{[]string{"bin/tails-server", "client", "s"}, nil, "show"},
	}
	for _, tc := range tests {
		var quoted []string
		for _, w := range tc.words {
			quoted = append(quoted, shellQuote(w))
		}
		cmd := exec.Command(bash, "-c", prelude+"comp "+strings.Join(quoted, " "), "bash", scriptFile, bin)
		cmd.Env = append([]string{mainEnv + "=1", "PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, tc.env...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Errorf("%q: %v\n%s%s", tc.words, err, out.String(), errb.String())
			continue
		}
		if got := strings.TrimSpace(out.String()); got != tc.expect {
			t.Errorf("%q: completes to %q, want %q (stderr %q)", tc.words, got, tc.expect, errb.String())
		}
	}
}

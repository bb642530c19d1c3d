package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"tails-server/internal/testenv"
)

// README.md's CLI reference is the one generated from the command table.
func TestReadmeCLIReference(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := replaceReadmeTable(readme)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readme, want) {
		t.Fatal("README.md's CLI reference differs from the command table: run `go run ./cmd/tails-server docs readme README.md`")
	}
	// Every command and verb has its row.
	for _, r := range docRows() {
		if !bytes.Contains(readme, []byte("| `"+strings.ReplaceAll(r.usage, "|", `\|`)+"` |")) {
			t.Errorf("README.md has no row for %s", r.usage)
		}
	}
}

// `docs readme` rewrites the table between the markers and nothing else;
// a file without them is refused and left as it was.
func TestDocsReadmeRewrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "README.md")
	old := "# x\n\nbefore\n" + readmeBegin + "\n| stale |\n" + readmeEnd + "\nafter\n"
	if err := os.WriteFile(path, []byte(old), 0o640); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"docs", "readme", path}, &out, &errb); code != 0 {
		t.Fatalf("docs readme: exit %d, %s", code, errb.String())
	}
	got, _ := os.ReadFile(path)
	if want := "# x\n\nbefore\n" + readmeTable() + "after\n"; string(got) != want {
		t.Fatalf("rewritten:\n%s", got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 kept", st.Mode().Perm())
	}
	plain := filepath.Join(dir, "plain.md")
	os.WriteFile(plain, []byte("no markers\n"), 0o644)
	errb.Reset()
	if code := Main(context.Background(), []string{"docs", "readme", plain}, &out, &errb); code != ExitFailure || strings.Count(errb.String(), "\n") != 1 {
		t.Errorf("no markers: exit %d, %q", code, errb.String())
	}
	if got, _ := os.ReadFile(plain); string(got) != "no markers\n" {
		t.Errorf("no markers: file changed to %q", got)
	}
}

// The man page renders without a warning, has the sections a man page
// has, a subsection for every command and verb, and every verb's flags.
func TestManPage(t *testing.T) {
	groff := testenv.RequireProgram(t, "groff")
	man := testenv.RequireProgram(t, "man")
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"docs", "man", dir}, &out, &errb); code != 0 {
		t.Fatalf("docs man: exit %d, %s", code, errb.String())
	}
	page := filepath.Join(dir, "tails-server.1")
	if strings.TrimSpace(out.String()) != page {
		t.Errorf("docs man printed %q, want the page's path", out.String())
	}
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", page)
	var gerr bytes.Buffer
	cmd.Stderr = &gerr
	if err := cmd.Run(); err != nil || gerr.Len() > 0 {
		t.Fatalf("groff -man -Tutf8 -ww: %v\n%s", err, gerr.String())
	}
	cmd = exec.Command(man, "--warnings", "-l", page)
	cmd.Env = append(os.Environ(), "MANPAGER=cat", "PAGER=cat", "MANWIDTH=200", "LANG=C.UTF-8")
	var merr bytes.Buffer
	cmd.Stderr = &merr
	text, err := cmd.Output()
	if err != nil || merr.Len() > 0 {
		t.Fatalf("man -l: %v\n%s", err, merr.String())
	}
	// Undo the bold and underline of man's output.
	plain, err := exec.Command("sh", "-c", "col -bx < \"$1\"", "sh", writeTemp(t, text)).Output()
	if err != nil {
		t.Fatal(err)
	}
	s := string(plain)
	for _, sec := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "EXIT STATUS", "ENVIRONMENT", "FILES", "SEE ALSO"} {
		if !strings.Contains(s, "\n"+sec+"\n") {
			t.Errorf("man page has no %s section", sec)
		}
	}
	for code := ExitOK; code <= ExitNotReachable; code++ {
		if !strings.Contains(s, "\n       "+string(rune('0'+code))+"      ") {
			t.Errorf("EXIT STATUS lacks %d", code)
		}
	}
	// The subsections: a heading indented by 3, up to the next one or
	// the next section.
	sections := map[string]string{}
	heads := regexp.MustCompile(`(?m)^(   \S.*|\S.*)$`).FindAllStringSubmatchIndex(s, -1)
	for k, h := range heads {
		end := len(s)
		if k+1 < len(heads) {
			end = heads[k+1][0]
		}
		sections[strings.TrimSpace(s[h[2]:h[3]])] = s[h[1]:end]
	}
	for _, r := range docRows() {
		name := strings.TrimSpace(r.cmd.name + " " + r.sub)
		section, ok := sections[name]
		if !ok {
			t.Errorf("man page has no subsection %q", name)
			continue
		}
		if !strings.Contains(section, "tails-server "+name) {
			t.Errorf("%s: no usage line in\n%s", name, section)
		}
		for _, f := range verbFlags(r.cmd, r.sub) {
			if !strings.Contains(section, "       "+f.spelling()) {
				t.Errorf("%s: the man page lacks its flag %s", name, f.spelling())
			}
		}
	}
	if _, ok := sections["__complete"]; ok {
		t.Error("man page shows the hidden __complete")
	}
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "page.txt")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// `docs man -` prints the page that `docs man DIR` writes.
func TestDocsManStdout(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"docs", "man", "-"}, &out, &errb); code != 0 || out.String() != manPage() {
		t.Fatalf("docs man -: exit %d, %s", code, errb.String())
	}
}

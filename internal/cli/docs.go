package cli

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"tails-server/internal/store"
)

// The `docs` verb writes what is generated from the command table besides
// --help and the completions: the man page (man.go) and the README's CLI
// reference table.

// Markers of the README's generated CLI reference table.
const (
	readmeBegin = "<!-- cli-reference: generated from the command table by `go run ./cmd/tails-server docs readme README.md`; do not edit by hand -->"
	readmeEnd   = "<!-- /cli-reference -->"
)

func runDocs(e *env, args []string) error {
	pos, err := parse(flag.NewFlagSet("docs", flag.ContinueOnError), e, args)
	if err != nil {
		return err
	}
	cmd, _ := lookup("docs")
	if len(pos) == 0 {
		return usageErr("docs takes %s", cmd.subList())
	}
	switch verb, rest := pos[0], pos[1:]; verb {
	case "man":
		if err := wantArgs("docs man", rest, 1, "the directory to write tails-server.1 into"); err != nil {
			return err
		}
		if rest[0] == "-" {
			_, err := fmt.Fprint(e.stdout, manPage())
			return err
		}
		// A packager's DESTDIR/usr/share/man/man1 may not exist yet.
		if err := os.MkdirAll(rest[0], 0o755); err != nil {
			return fmt.Errorf("docs man: %w", err)
		}
		path := filepath.Join(rest[0], "tails-server.1")
		if err := store.WriteFile(path, []byte(manPage()), 0o644); err != nil {
			return fmt.Errorf("docs man: %w", err)
		}
		fmt.Fprintln(e.stdout, path)
		return nil
	case "readme":
		if err := wantArgs("docs readme", rest, 1, "the README file to rewrite"); err != nil {
			return err
		}
		return rewriteReadme(rest[0])
	}
	return unknownVerb(cmd, pos[0])
}

// docRow is one row of the reference: a command (or a command's verb)
// with its arguments, and what it does.
type docRow struct {
	cmd   *command
	sub   string // the verb's name, or ""
	usage string // "client show SERVICE NAME [--format ...]"
	doc   string
}

// docRows are the reference's rows in the table's order: every command
// without verbs, every verb of those with them; hidden ones left out.
func docRows() []docRow {
	var rows []docRow
	for i := range commands {
		c := &commands[i]
		if c.hidden {
			continue
		}
		if len(c.subs) == 0 {
			rows = append(rows, docRow{c, "", strings.TrimSpace(c.name + " " + c.args), orSummary(c.doc, c.summary)})
			continue
		}
		for _, s := range c.subs {
			rows = append(rows, docRow{c, s.name, strings.TrimSpace(c.name + " " + s.name + " " + s.args), orSummary(s.doc, s.summary)})
		}
	}
	return rows
}

func orSummary(doc, summary string) string {
	if doc != "" {
		return doc
	}
	return summary
}

// readmeTable is the README's CLI reference table, with its markers.
func readmeTable() string {
	var b strings.Builder
	b.WriteString(readmeBegin + "\n| command | what it does |\n| --- | --- |\n")
	cell := strings.NewReplacer("|", `\|`, "\n", " ")
	for _, r := range docRows() {
		fmt.Fprintf(&b, "| `%s` | %s |\n", cell.Replace(r.usage), cell.Replace(r.doc))
	}
	b.WriteString(readmeEnd + "\n")
	return b.String()
}

// replaceReadmeTable returns readme with the lines from its begin marker
// to its end marker replaced by the generated table.
func replaceReadmeTable(readme []byte) ([]byte, error) {
	begin := bytes.Index(readme, []byte(readmeBegin))
	end := bytes.Index(readme, []byte(readmeEnd))
	if begin < 0 || end < begin || bytes.Count(readme, []byte(readmeBegin)) != 1 {
		return nil, fmt.Errorf("no CLI reference markers: the table goes between a line %q and a line %q", readmeBegin, readmeEnd)
	}
	end += len(readmeEnd)
	if end < len(readme) && readme[end] == '\n' {
		end++
	}
	var out bytes.Buffer
	out.Write(readme[:begin])
	out.WriteString(readmeTable())
	out.Write(readme[end:])
	return out.Bytes(), nil
}

// rewriteReadme replaces the CLI reference table of the file at path,
// atomically, keeping its mode.
func rewriteReadme(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("docs readme: %w", err)
	}
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("docs readme: %w", err)
	}
	updated, err := replaceReadmeTable(old)
	if err != nil {
		return fmt.Errorf("docs readme: %s: %w", path, err)
	}
	if bytes.Equal(old, updated) {
		return nil
	}
	if err := store.WriteFile(path, updated, st.Mode().Perm()); err != nil {
		return fmt.Errorf("docs readme: %w", err)
	}
	return nil
}

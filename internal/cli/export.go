package cli

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"tails-server/internal/apitype"
)

// export and import: the daemon encrypts, decrypts and checks the
// archives (internal/archive); the CLI reads the passphrase (never an
// argument nor an environment variable: both show to other users), reads
// and writes the files as the user who runs it, and asks before an
// import is applied.

// maxIdentityFile caps an age identity file.
const maxIdentityFile = 64 << 10

func runExport(e *env, args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	to := fs.String("to", "", "the archive to write (mode 0600, atomically; never an existing file unless --force)")
	all := fs.Bool("all", false, "every service, the settings and tor's state when it is persisted")
	recipient := fs.String("recipient", "", "encrypt to this age recipient (age1...) instead of a passphrase")
	force := fs.Bool("force", false, "replace FILE if it exists")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	name := ""
	if *all {
		if err := wantArgs("export --all", pos, 0, "no service name"); err != nil {
			return err
		}
	} else {
		if err := wantArgs("export", pos, 1, "one service name (or --all)"); err != nil {
			return err
		}
		name = pos[0]
	}
	if *to == "" {
		return usageErr("export needs --to FILE: where to write the archive")
	}
	if _, err := os.Lstat(*to); err == nil && !*force {
		return &exitError{code: ExitFailure, err: fmt.Errorf("%s exists: export never overwrites a file", *to),
			hint: "choose another --to, or add --force to replace it"}
	}
	req := apitype.ExportRequest{Recipient: *recipient}
	if *recipient == "" {
		p, err := readPassphrase(e, true)
		if err != nil {
			return err
		}
		req.Passphrase = p
	}
	dir, base := filepath.Dir(*to), filepath.Base(*to)
	tmp, err := os.CreateTemp(dir, "."+base+".*.part") // 0600
	if err != nil {
		return fmt.Errorf("cannot write to %s: %w", dir, unwrapPath(err))
	}
	defer os.Remove(tmp.Name())
	cw := &countWriter{w: tmp}
	err = e.client().Export(e.ctx, name, req, cw)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if *force {
		err = os.Rename(tmp.Name(), *to)
	} else {
		err = os.Link(tmp.Name(), *to) // fails, never replaces, if it appeared meanwhile
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", *to, unwrapPath(err))
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	what := name
	if *all {
		what = "all"
	}
	enc := "passphrase"
	if *recipient != "" {
		enc = "recipient"
	}
	return e.print(exported{Exported: exportedInfo{What: what, File: *to, Bytes: cw.n, EncryptedTo: enc}})
}

type exported struct {
	Exported exportedInfo `json:"exported" yaml:"exported"`
}

type exportedInfo struct {
	What        string `json:"what" yaml:"what"`
	File        string `json:"file" yaml:"file"`
	Bytes       int64  `json:"bytes" yaml:"bytes"`
	EncryptedTo string `json:"encrypted_to" yaml:"encrypted_to"`
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func runImport(e *env, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	as := fs.String("as", "", "import a one-service archive under this service name")
	yes := fs.Bool("yes", false, "apply without asking")
	replace := fs.Bool("replace", false, "replace a service of the same name that has another onion key (and its address)")
	identity := fs.String("identity", "", "the age identity file of an archive exported with --recipient")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if err := wantArgs("import", pos, 1, "one archive file"); err != nil {
		return err
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return fmt.Errorf("cannot read the archive: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a file", pos[0])
	}
	req := apitype.ImportRequest{As: *as}
	if *identity != "" {
		b, err := readSmall(*identity, maxIdentityFile)
		if err != nil {
			return err
		}
		req.Identity = string(b)
	} else {
		p, err := readPassphrase(e, false)
		if err != nil {
			return err
		}
		req.Passphrase = p
	}
	c := e.client()
	pv, err := c.StartImport(e.ctx, req, bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return err
	}
	if !*yes {
		if err := e.print(importPreview{Import: pv}); err != nil {
			return err
		}
		ok, err := confirm(e, "Apply this import?")
		if err != nil || !ok {
			c.CancelImport(e.ctx, pv.ID)
			if err != nil {
				return err
			}
			return &exitError{code: ExitFailure, err: errors.New("import not applied: nothing changed")}
		}
	}
	res, err := c.ApplyImport(e.ctx, pv.ID, *replace)
	if err != nil {
		return err
	}
	out := importDone{Imported: res.Services}
	if *yes {
		out.Import = &pv
	}
	return e.print(out)
}

type importPreview struct {
	Import apitype.ImportPreview `json:"import" yaml:"import"`
}

type importDone struct {
	Import   *apitype.ImportPreview `json:"import,omitempty" yaml:"import,omitempty"`
	Imported []string               `json:"imported" yaml:"imported"`
}

// readSmall reads a file of the user's, refusing one over limit bytes.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes: not an age identity file", path, limit)
	}
	return b, nil
}

// readPassphrase reads the archive's passphrase: on a terminal, not
// echoed (twice when twice, for a new archive); else one line of
// standard input.
func readPassphrase(e *env, twice bool) (string, error) {
	f, ok := e.stdin.(*os.File)
	if !ok || !isTerminal(f) {
		line, err := bufio.NewReader(io.LimitReader(e.stdin, maxStdinValue)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the passphrase from standard input: %w", err)
		}
		p := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if p == "" {
			return "", usageErr("no passphrase on standard input: give it as its first line (or use --recipient / --identity)")
		}
		return p, nil
	}
	p, err := promptSecret(e, f, "Passphrase of the archive (not shown as you type): ")
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", usageErr("no passphrase typed: nothing done")
	}
	if twice {
		again, err := promptSecret(e, f, "The same passphrase again: ")
		if err != nil {
			return "", err
		}
		if again != p {
			return "", usageErr("the two passphrases differ: nothing done")
		}
	}
	return p, nil
}

func promptSecret(e *env, f *os.File, prompt string) (string, error) {
	fmt.Fprint(e.stderr, prompt)
	restore, err := echoOff(f)
	if err != nil {
		return "", fmt.Errorf("turning off the terminal's echo: %w", err)
	}
	defer func() {
		restore()
		fmt.Fprintln(e.stderr)
	}()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), nil
}

// confirm asks a yes/no question on the terminal; without one it is an
// error that names --yes.
func confirm(e *env, question string) (bool, error) {
	f, ok := e.stdin.(*os.File)
	if !ok || !isTerminal(f) {
		return false, &exitError{code: ExitUsage, err: errors.New("import not applied: no terminal to ask on, nothing changed"),
			hint: "add --yes to apply it without asking"}
	}
	fmt.Fprintf(e.stderr, "%s [y/N] ", question)
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}

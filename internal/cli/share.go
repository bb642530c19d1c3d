package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// runShare prints what a client needs, and QR codes of the URI and the
// credential when stdout is a terminal (or with --qr). The QR codes are
// drawn as YAML comments, so that the output stays valid YAML.
func runShare(e *env, args []string) error {
	fs := flag.NewFlagSet("share", flag.ContinueOnError)
	clientName := fs.String("client", "", "include this client's credential")
	qr := fs.Bool("qr", false, "draw QR codes even when stdout is not a terminal")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if err := wantArgs("share", pos, 1, "one service name"); err != nil {
		return err
	}
	sh, err := e.client().Share(e.ctx, pos[0], *clientName)
	if err != nil {
		return err
	}
	if err := e.print(sh); err != nil {
		return err
	}
	if e.output != "yaml" || !(*qr || isTerminal(e.stdout)) {
		return nil
	}
	if err := drawQR(e.stdout, "address ("+sh.URI+")", sh.URI); err != nil {
		return err
	}
	if sh.Credential != "" {
		return drawQR(e.stdout, "credential of "+sh.Client+" (secret: show it to "+sh.Client+" only)", sh.Credential)
	}
	return nil
}

// drawQR writes a QR code of text as YAML comment lines, two modules per
// character cell.
func drawQR(w io.Writer, title, text string) error {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return fmt.Errorf("drawing a QR code: %w", err)
	}
	fmt.Fprintf(w, "# QR code: %s\n", title)
	for _, line := range strings.Split(strings.TrimRight(q.ToSmallString(false), "\n"), "\n") {
		fmt.Fprintf(w, "# %s\n", line)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

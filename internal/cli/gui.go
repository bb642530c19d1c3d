package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// runGUI asks the daemon for a one-time login URL of its GUI, prints it,
// and opens it with xdg-open when a desktop session is there.
func runGUI(e *env, args []string) error {
	fs := flag.NewFlagSet("gui", flag.ContinueOnError)
	noOpen := fs.Bool("no-open", false, "only print the URL, do not open a browser")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if err := wantArgs("gui", pos, 0, "no arguments"); err != nil {
		return err
	}
	l, err := e.client().GUILogin(e.ctx)
	if err != nil {
		return err
	}
	if err := e.print(l); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "tails-server: the link works once, until %s, in a browser on this computer\n", l.Expires.Local().Format("15:04:05"))
	if *noOpen || (os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "") {
		return nil
	}
	opener, err := exec.LookPath("xdg-open")
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	// The URL is xdg-open's only operand; it must be the daemon's local
	// http URL, never something xdg-open could take for an option.
	if !strings.HasPrefix(l.URL, "http://127.") {
		return fmt.Errorf("the daemon answered an unexpected GUI URL; not opening it")
	}
	if out, err := exec.CommandContext(ctx, opener, l.URL).CombinedOutput(); err != nil {
		fmt.Fprintf(e.stderr, "tails-server: could not open a browser (%v): open the link above yourself\n", err)
		if len(out) > 0 {
			fmt.Fprintf(e.stderr, "%s", out)
		}
	}
	return nil
}

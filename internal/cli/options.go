package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"tails-server/internal/apitype"
)

func runGetOption(e *env, args []string) error {
	fs := flag.NewFlagSet("get-option", flag.ContinueOnError)
	show := fs.Bool("show-secrets", false, "show a secret's value")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if err := wantArgs("get-option", pos, 2, "a service name and an option name"); err != nil {
		return err
	}
	o, err := e.client().GetOption(e.ctx, pos[0], pos[1], *show)
	if err != nil {
		return err
	}
	return e.print(o)
}

func runSetOption(e *env, args []string) error {
	pos, err := parse(flag.NewFlagSet("set-option", flag.ContinueOnError), e, args)
	if err != nil {
		return err
	}
	if err := wantArgs("set-option", pos, 3, "a service name, an option name and a value (or - to read it from standard input)"); err != nil {
		return err
	}
	c := e.client()
	service, option, value := pos[0], pos[1], pos[2]
	// "-" always means standard input: a value that is "-" itself comes
	// that way too (printf -- - | tails-server set-option S O -).
	o, err := c.GetOption(e.ctx, service, option, false)
	if err != nil {
		return err
	}
	fromArg := value != "-"
	if !fromArg {
		if value, err = readValue(e, service, o); err != nil {
			return err
		}
	}
	r, err := c.SetOption(e.ctx, service, option, value)
	if err != nil {
		return err // one line: a refused value needs no lecture
	}
	if fromArg && o.Type == "secret" && value != "" {
		fmt.Fprintf(e.stderr, "tails-server: warning: %s\n", secretArgWarning(service, option))
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(e.stderr, "tails-server: warning: %s\n", w)
	}
	return e.print(r)
}

func runRemove(e *env, args []string) error {
	fs := flag.NewFlagSet("remove", flag.ContinueOnError)
	yes := fs.Bool("yes", false, "really wipe the service's data, config and onion key")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if err := wantArgs("remove", pos, 1, "one service name"); err != nil {
		return err
	}
	if !*yes {
		return &exitError{code: ExitUsage,
			err:  fmt.Errorf("remove wipes %s's data, configuration, onion key and clients for good", pos[0]),
			hint: fmt.Sprintf("to go ahead: tails-server remove %s --yes (or only stop it: tails-server disable %s)", pos[0], pos[0])}
	}
	r, err := e.client().Remove(e.ctx, pos[0])
	if err != nil {
		return err
	}
	return e.print(removed{r})
}

// removed is what `remove` prints: what was wiped.
type removed struct {
	Removed apitype.RemoveResult `json:"removed" yaml:"removed"`
}

func runLogs(e *env, args []string) error {
	fs := flag.NewFlagSet("logs", flag.ContinueOnError)
	follow := fs.Bool("f", false, "follow: print new lines as they come, until Ctrl-C")
	n := fs.Int("n", 100, "how many of the last lines")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if err := wantArgs("logs", pos, 1, "one service name"); err != nil {
		return err
	}
	c := e.client()
	lines, err := c.Logs(e.ctx, pos[0], *n)
	if err != nil {
		return err
	}
	if e.output == "json" {
		if err := e.print(lines); err != nil {
			return err
		}
	} else if len(lines) > 0 {
		fmt.Fprintln(e.stdout, strings.Join(lines, "\n"))
	}
	if !*follow {
		return nil
	}
	ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return c.FollowLogs(ctx, pos[0], e.stdout)
}

// readOnionKey reads the --onion-key file (at most 4 KiB: a key file is 96
// bytes, the ED25519-V3 form about 100).
func readOnionKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--onion-key: %w", errors.Unwrap(err))
	}
	defer f.Close()
	b := make([]byte, 4097)
	n, _ := f.Read(b)
	if n > 4096 {
		return nil, fmt.Errorf("--onion-key %s is too large to be an onion key", path)
	}
	return b[:n], nil
}

func runSettings(e *env, args []string) error {
	pos, err := parse(flag.NewFlagSet("settings", flag.ContinueOnError), e, args)
	if err != nil {
		return err
	}
	c := e.client()
	switch {
	case len(pos) == 0 || (len(pos) == 1 && pos[0] == "get"):
		st, err := c.Settings(e.ctx)
		if err != nil {
			return err
		}
		return e.print(st)
	case len(pos) == 3 && pos[0] == "set":
		before, err := c.Settings(e.ctx)
		if err != nil {
			return err
		}
		st, err := c.SetSetting(e.ctx, pos[1], pos[2])
		if err != nil {
			return err
		}
		if st.PersistTorState != before.PersistTorState {
			fmt.Fprintf(e.stderr, "tails-server: note: %s\n", apitype.TorRestartNote)
		}
		return e.print(st)
	}
	return usageErr("settings takes get, or set persist-tor-state true|false")
}

package cli

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/daemon"
)

func version() string { return daemon.Version }

func runList(e *env, args []string) error {
	pos, err := parse(flag.NewFlagSet("list", flag.ContinueOnError), e, args)
	if err != nil {
		return err
	}
	if err := wantArgs("list", pos, 0, "no arguments"); err != nil {
		return err
	}
	svcs, err := e.client().List(e.ctx)
	if err != nil {
		return err
	}
	type row struct {
		Name         string `yaml:"name" json:"name"`
		Title        string `yaml:"title" json:"title"`
		Installed    bool   `yaml:"installed" json:"installed"`
		State        string `yaml:"state" json:"state"`
		OnionAddress string `yaml:"onion_address,omitempty" json:"onion_address,omitempty"`
	}
	out := []row{}
	for _, s := range svcs {
		out = append(out, row{s.Name, s.Title, s.Installed, s.State, s.OnionAddress})
	}
	return e.print(out)
}

func runInfo(e *env, args []string) error {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	details := fs.Bool("details", false, "show details")
	show := fs.Bool("show-secrets", false, "show secret option values")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if err := wantArgs("info", pos, 1, "one service name"); err != nil {
		return err
	}
	s, err := e.client().InfoWith(e.ctx, pos[0], *details, *show)
	if err != nil {
		return err
	}
	if !*details && s.Health != nil {
		s.Health.Chart = nil // the GUI's; --details shows it
	}
	return e.print(s)
}

// statusView is what `status` shows: the two states, address ready and
// reachable, and the last self-check.
type statusView struct {
	Name         string         `yaml:"name" json:"name"`
	State        string         `yaml:"state" json:"state"`
	AddressReady bool           `yaml:"address_ready" json:"address_ready"`
	Reachable    bool           `yaml:"reachable" json:"reachable"`
	OnionAddress string         `yaml:"onion_address,omitempty" json:"onion_address,omitempty"`
	LastCheck    *apitype.Check `yaml:"last_check,omitempty" json:"last_check,omitempty"`
	// Uptime is the share of passed self-checks over 1 h, 24 h and 7 d;
	// LastFailures the last failed ones, newest first (the health record).
	Uptime       []apitype.Uptime `yaml:"uptime,omitempty" json:"uptime,omitempty"`
	LastFailures []apitype.Check  `yaml:"last_failures,omitempty" json:"last_failures,omitempty"`
	Error        string           `yaml:"error,omitempty" json:"error,omitempty"`
	Warnings     []string         `yaml:"warnings,omitempty" json:"warnings,omitempty"`
	Progress     string           `yaml:"progress,omitempty" json:"progress,omitempty"`
	// Scheduled says when a scheduled service publishes and how long
	// that is from now; StartsAt is that time.
	Scheduled string     `yaml:"scheduled,omitempty" json:"scheduled,omitempty"`
	StartsAt  *time.Time `yaml:"starts_at,omitempty" json:"starts_at,omitempty"`
	// StopsIn is the time left before stop-after withdraws the onion,
	// at StopsAt.
	StopsIn    string     `yaml:"stops_in,omitempty" json:"stops_in,omitempty"`
	StopsAt    *time.Time `yaml:"stops_at,omitempty" json:"stops_at,omitempty"`
	Persistent bool       `yaml:"persistent" json:"persistent"`
	// Options are those the service marks to show in status; secrets
	// stay masked.
	Options map[string]string `yaml:"options,omitempty" json:"options,omitempty"`
	// Transfers are the newest statusTransfers of the service's
	// downloads and uploads (info shows them all).
	Transfers []apitype.Transfer `yaml:"transfers,omitempty" json:"transfers,omitempty"`
}

// statusTransfers is how many transfers status shows.
const statusTransfers = 10

func toStatus(s apitype.Service) statusView { return toStatusAt(s, time.Now()) }

// toStatusAt is toStatus, the time left counted from now.
func toStatusAt(s apitype.Service, now time.Time) statusView {
	v := statusView{
		Name:         s.Name,
		State:        s.State,
		Reachable:    s.Reachable,
		OnionAddress: s.OnionAddress,
		Error:        s.Error,
		Warnings:     s.Warnings,
		Progress:     s.Progress,
		Persistent:   s.Persistent,
	}
	for _, o := range s.Options {
		if o.ShowInStatus {
			if v.Options == nil {
				v.Options = map[string]string{}
			}
			v.Options[o.Name] = o.Value
		}
	}
	switch s.State {
	case apitype.StateAddressed, apitype.StatePublished, apitype.StateReachable, apitype.StateFailing:
		v.AddressReady = true
	}
	if s.Details != nil {
		v.LastCheck = s.Details.LastCheck
	}
	if s.Health != nil {
		v.Uptime, v.LastFailures = s.Health.Uptime, s.Health.LastFailures
	}
	if s.State == apitype.StateScheduled && s.StartsAt != nil {
		v.StartsAt = s.StartsAt
		v.Scheduled = fmt.Sprintf("publishes at %s (in %s)", s.StartsAt.UTC().Format(time.RFC3339), timeLeft(*s.StartsAt, now))
		v.Error = "" // the reason, which Scheduled says
	}
	if s.StopsAt != nil {
		v.StopsAt = s.StopsAt
		v.StopsIn = timeLeft(*s.StopsAt, now) + " (stop-after)"
	}
	v.Transfers = s.Transfers[:min(len(s.Transfers), statusTransfers)]
	return v
}

// timeLeft says how long from now to at, to the second: 29m41s, 0s when
// past.
func timeLeft(at, now time.Time) string {
	d := at.Sub(now).Round(time.Second)
	if d <= 0 {
		return "0s"
	}
	return catalog.FormatDuration(d)
}

func runStatus(e *env, args []string) error {
	pos, err := parse(flag.NewFlagSet("status", flag.ContinueOnError), e, args)
	if err != nil {
		return err
	}
	if err := wantArgs("status", pos, 1, "one service name"); err != nil {
		return err
	}
	s, err := e.client().Info(e.ctx, pos[0], true)
	if err != nil {
		return err
	}
	return e.print(toStatus(s))
}

func runEnable(e *env, args []string) error {
	fs := flag.NewFlagSet("enable", flag.ContinueOnError)
	wait := fs.Duration("wait", 120*time.Second, "how long to wait for the service to be reachable")
	keyFile := fs.String("onion-key", "", "reuse this onion key: Tor's hs_ed25519_secret_key file, or a file holding ED25519-V3:<base64>")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if err := wantArgs("enable", pos, 1, "one service name"); err != nil {
		return err
	}
	if *wait <= 0 || *wait > time.Hour {
		return usageErr("--wait must be between 1s and 1h")
	}
	req := apitype.EnableRequest{Wait: *wait}
	if *keyFile != "" {
		if req.OnionKey, err = readOnionKey(*keyFile); err != nil {
			return err
		}
	}
	bar := newProgressBar(e.stderr, isTerminal(e.stderr))
	s, err := e.client().EnableStream(e.ctx, pos[0], req, bar.show)
	bar.done()
	if err != nil {
		return err
	}
	if err := e.print(toStatus(s)); err != nil {
		return err
	}
	if s.State == apitype.StateFailed {
		return fmt.Errorf("%s failed: %s", s.Name, s.Error)
	}
	if s.State == apitype.StateScheduled {
		return nil // enabled; it publishes at its start-at time
	}
	if s.State == apitype.StateDisabled {
		return fmt.Errorf("%s was disabled before it was reachable: %s", s.Name, s.Error)
	}
	if !s.Reachable {
		return &exitError{code: ExitNotReachable,
			err:  fmt.Errorf("%s is enabled but was not reachable through its onion within %s (state: %s)", s.Name, *wait, s.State),
			hint: fmt.Sprintf("the daemon keeps trying; follow it with `tails-server status %s`", s.Name)}
	}
	return nil
}

func runDisable(e *env, args []string) error {
	pos, err := parse(flag.NewFlagSet("disable", flag.ContinueOnError), e, args)
	if err != nil {
		return err
	}
	if err := wantArgs("disable", pos, 1, "one service name"); err != nil {
		return err
	}
	s, err := e.client().Disable(e.ctx, pos[0])
	if err != nil {
		return err
	}
	return e.print(toStatus(s))
}

// clientFormats are the values `client show --format` takes.
var clientFormats = []string{"yaml", "json", "auth-private"}

func runClient(e *env, args []string) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	format := fs.String("format", "", "client show: "+strings.Join(clientFormats, ", ")+" (default: the -o format)")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	cmd, _ := lookup("client")
	if len(pos) == 0 {
		return usageErr("client takes %s", cmd.subList())
	}
	c := e.client()
	switch verb, rest := pos[0], pos[1:]; verb {
	case "list":
		if err := wantArgs("client list", rest, 1, "a service name"); err != nil {
			return err
		}
		cl, err := c.Clients(e.ctx, rest[0])
		if err != nil {
			return err
		}
		return e.print(cl)
	case "add":
		if err := wantArgs("client add", rest, 2, "a service name and a client name"); err != nil {
			return err
		}
		cl, err := c.AddClient(e.ctx, rest[0], rest[1])
		if err != nil {
			return err
		}
		return e.print(cl)
	case "remove":
		if err := wantArgs("client remove", rest, 2, "a service name and a client name"); err != nil {
			return err
		}
		return c.RemoveClient(e.ctx, rest[0], rest[1])
	case "show":
		if err := wantArgs("client show", rest, 2, "a service name and a client name"); err != nil {
			return err
		}
		if *format != "" && !slices.Contains(clientFormats, *format) {
			return usageErr("unknown --format %q: use %s", *format, strings.Join(clientFormats, ", "))
		}
		cl, err := c.Client(e.ctx, rest[0], rest[1])
		if err != nil {
			return err
		}
		switch *format {
		case "auth-private":
			_, err := fmt.Fprintln(e.stdout, cl.Credential)
			return err
		case "json":
			e.output = "json"
		}
		return e.print(cl)
	default:
		return unknownVerb(cmd, verb)
	}
}

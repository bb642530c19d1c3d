package conformance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/onionkey"
	"tails-server/internal/tor"
)

// clientName is the client the run adds to the service, whose credential
// its client tor holds.
const clientName = "check"

// selfCheckWait is how long enable waits for the daemon's own self-check
// (after the install, start and publication): a note, not a trial.
const selfCheckWait = 30 * time.Second

// disableProbeTimeout bounds each attempt to reach the disabled service.
const disableProbeTimeout = 10 * time.Second

// run is one check in progress.
type run struct {
	o   Options
	svc *catalog.Service
	sc  *scratch
	ctl *tor.Conn // the client tor's control connection
	pr  *prober
	// probe is the description's probe (or its health check through the
	// onion); health is always the latter.
	probe, health catalog.Probe
	addr          string // the onion host name, "....onion"
	// selfCheck says why the daemon's self-check did not reach the
	// service after the last enable, until a probe passes.
	selfCheck string
}

// trials lists the run's trials, in order.
func (r *run) trials() []trial {
	ts := []trial{
		{name: "enable", run: r.enable, gate: true},
		{name: "probe " + describeProbe(r.probe), run: r.proveDeclared, gate: true},
		{name: "kill -9 of the backend", run: r.kill9},
		// Before the option trials: after the score of re-publications
		// those make, an onion disabled and enabled again on the same tor
		// was seen unreachable for minutes, a matter of the daemon
		// (reported apart) that would otherwise fail every run.
		{name: "disable", run: r.disable},
		{name: "enable again", run: r.enableAgain},
	}
	for i := range r.svc.Options {
		o := &r.svc.Options[i]
		ts = append(ts, r.optionTrials(o)...)
	}
	for i := range r.svc.Options {
		if o := &r.svc.Options[i]; hostileApplies(o) {
			ts = append(ts, trial{name: "hostile values of " + o.Name, run: func(ctx context.Context) error { return r.hostile(ctx, o) }})
		}
	}
	return append(ts,
		trial{name: "persistence on across a reboot", run: r.persistOn},
		trial{name: "persistence off across a reboot", run: r.persistOff},
	)
}

// describeProbe names a probe for its trial's line.
func describeProbe(p catalog.Probe) string {
	var s string
	switch {
	case len(p.Command) > 0:
		s = "command " + p.Command[0]
	case p.HTTP != nil:
		s = "http GET " + p.HTTP.Path
	case p.TCP != nil && p.TCP.Expect != nil:
		s = "tcp banner"
	default:
		s = "tcp connection"
	}
	s += " on onion port " + strconv.Itoa(p.Port)
	if !p.Declared {
		s += " (the health check)"
	}
	return s
}

// info is the service as the daemon reports it, with details.
func (r *run) info(ctx context.Context) (apitype.Service, error) {
	if err := r.sc.alive(); err != nil {
		return apitype.Service{}, err
	}
	return r.sc.api.Info(ctx, r.svc.Name, true)
}

// enableService enables the service, checks it is reachable and gives the
// client tor its credential.
func (r *run) enableService(ctx context.Context) error {
	s, err := r.sc.api.Enable(ctx, r.svc.Name, selfCheckWait)
	if err != nil {
		if aerr := r.sc.alive(); aerr != nil {
			return aerr
		}
		// Say how the backend ended, when it did.
		if how := r.sc.lastExit(r.svc.Name); how != "" {
			return fmt.Errorf("%v (the backend exited: %s)", err, how)
		}
		return err
	}
	r.selfCheck = ""
	switch {
	case !s.Enabled || s.State == "failed" || s.State == "disabled":
		return fmt.Errorf("enable left it %s: %s", s.State, s.Error)
	case s.OnionAddress == "":
		return fmt.Errorf("enabled (state %s), but without an onion address", s.State)
	case !s.Reachable:
		// The probe decides; its failure will say this too.
		r.selfCheck = fmt.Sprintf("the daemon's own self-check had not reached it within %s: %s", selfCheckWait, s.Error)
		fmt.Fprintf(r.o.Log, "check: note: %s\n", r.selfCheck)
	}
	r.addr = s.OnionAddress
	if !strings.HasSuffix(r.addr, ".onion") {
		r.addr += ".onion"
	}
	if !s.ClientAuth {
		return nil
	}
	return r.authorize(ctx)
}

// authorize adds the run's client (unless the service has it) and gives
// its credential to the client tor.
func (r *run) authorize(ctx context.Context) error {
	cl, err := r.sc.api.AddClient(ctx, r.svc.Name, clientName)
	if err != nil {
		if cl, err = r.sc.api.Client(ctx, r.svc.Name, clientName); err != nil {
			return fmt.Errorf("adding a client: %v", err)
		}
	}
	addr, key, err := onionkey.ParseAuthPrivateLine(cl.Credential)
	if err != nil {
		return fmt.Errorf("the client's credential: %v", err)
	}
	if err := r.ctl.OnionClientAuthAdd(ctx, addr, key, "", false); err != nil {
		return fmt.Errorf("giving the credential to the client tor: %v", err)
	}
	return nil
}

func (r *run) enable(ctx context.Context) error { return r.enableService(ctx) }

// prove runs p through the onion until it passes.
func (r *run) prove(ctx context.Context, p catalog.Probe) error {
	err := r.pr.until(ctx, p, r.addr, r.o.Wait)
	switch {
	case err != nil && r.selfCheck != "":
		return fmt.Errorf("through the onion: %v; and %s", err, r.selfCheck)
	case err != nil:
		return fmt.Errorf("through the onion: %v", err)
	}
	r.selfCheck = ""
	return nil
}

func (r *run) proveDeclared(ctx context.Context) error { return r.prove(ctx, r.probe) }

// backendPID is the running backend's pid; 0 when none runs.
func (r *run) backendPID(ctx context.Context) (int, error) {
	s, err := r.info(ctx)
	if err != nil {
		return 0, err
	}
	if b := s.Details.Backend; b != nil && b.Running {
		return b.PID, nil
	}
	return 0, nil
}

// running waits until the service is enabled and its backend (a command
// backend) runs with a pid other than old (0: any).
func (r *run) running(ctx context.Context, old int) error {
	return retry(ctx, r.o.Wait, func() error {
		s, err := r.info(ctx)
		if err != nil {
			return err
		}
		if !s.Enabled || s.State == "failed" {
			return fmt.Errorf("the service is %s: %s", s.State, s.Error)
		}
		if r.svc.Backend.Builtin != "" {
			return nil
		}
		b := s.Details.Backend
		switch {
		case b == nil || !b.Running || b.PID == 0:
			last := ""
			if b != nil && b.LastExit != "" {
				last = " (last exit: " + b.LastExit + ")"
			}
			return fmt.Errorf("the backend does not run%s", last)
		case b.PID == old:
			return fmt.Errorf("the backend still runs as pid %d", old)
		}
		return nil
	})
}

func (r *run) kill9(ctx context.Context) error {
	if r.svc.Backend.Builtin != "" {
		return skip("the %s backend runs inside the daemon", r.svc.Backend.Builtin)
	}
	pid, err := r.backendPID(ctx)
	if err != nil {
		return err
	}
	if pid == 0 {
		return errors.New("no backend runs")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill -9 %d: %v", pid, err)
	}
	if err := r.running(ctx, pid); err != nil {
		return fmt.Errorf("after kill -9: %v", err)
	}
	return r.prove(ctx, r.probe)
}

func (r *run) disable(ctx context.Context) error {
	s, err := r.sc.api.Disable(ctx, r.svc.Name)
	if err != nil {
		return err
	}
	if s.Enabled || s.State != "disabled" {
		return fmt.Errorf("after disable: enabled %v, state %s", s.Enabled, s.State)
	}
	if pid, err := r.backendPID(ctx); err != nil || pid != 0 {
		return fmt.Errorf("the backend still runs (pid %d) after disable %v", pid, err)
	}
	// Streams opened before may live on a while: wait for the refusal.
	// An attempt that gets no answer within disableProbeTimeout counts
	// as one.
	p := r.health
	p.Timeout = disableProbeTimeout
	err = retry(ctx, r.o.Wait, func() error {
		if r.pr.once(ctx, p, r.addr) == nil {
			return errors.New("the onion still answers")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("after disable: %v", err)
	}
	return nil
}

func (r *run) enableAgain(ctx context.Context) error {
	if err := r.enableService(ctx); err != nil {
		return err
	}
	return r.prove(ctx, r.probe)
}

// ownValues are the service's own option values, secrets included.
func (r *run) ownValues(ctx context.Context) (map[string]string, error) {
	m := map[string]string{}
	for _, o := range r.svc.Options {
		v, err := r.get(ctx, o.Name)
		if err != nil {
			return nil, err
		}
		m[o.Name] = v
	}
	return m, nil
}

// get reads an option's value, a secret's too.
func (r *run) get(ctx context.Context, name string) (string, error) {
	o, err := r.sc.api.GetOption(ctx, r.svc.Name, name, true)
	if err != nil {
		return "", fmt.Errorf("get-option %s: %v", name, err)
	}
	return o.Value, nil
}

// rebootWith sets persistence, reboots and returns the address before and
// the service after.
func (r *run) rebootWith(ctx context.Context, persist bool) (string, apitype.Service, error) {
	var none apitype.Service
	if _, err := r.sc.api.SetOption(ctx, r.svc.Name, catalog.OptPersistence, strconv.FormatBool(persist)); err != nil {
		return "", none, fmt.Errorf("set-option persistence %v: %v", persist, err)
	}
	s, err := r.info(ctx)
	if err != nil {
		return "", none, err
	}
	if s.Persistent != persist {
		return "", none, fmt.Errorf("after set-option persistence %v the service says persistent: %v", persist, s.Persistent)
	}
	if err := r.sc.reboot(ctx); err != nil {
		return "", none, fmt.Errorf("%w: the reboot: %v", errStop, err)
	}
	after, err := r.info(ctx)
	return s.OnionAddress, after, err
}

// proveAfterReboot enables the service again and proves it. The client
// tor still holds the descriptor of before the reboot, whose introduction
// points went with the daemon's tor: it fetches the new one (HSFETCH).
// (No NEWNYM: tor delays one that comes within 10 s of another, and it
// would then drop the credential given since.)
func (r *run) proveAfterReboot(ctx context.Context) error {
	if err := r.enableService(ctx); err != nil {
		return fmt.Errorf("enable after the reboot: %v", err)
	}
	if err := r.ctl.HSFetch(ctx, r.addr); err != nil {
		return fmt.Errorf("the client tor: %v", err)
	}
	return r.prove(ctx, r.probe)
}

func (r *run) persistOn(ctx context.Context) error {
	before, err := r.ownValues(ctx)
	if err != nil {
		return err
	}
	addr, s, err := r.rebootWith(ctx, true)
	if err != nil {
		return err
	}
	if s.OnionAddress != addr {
		return fmt.Errorf("the address changed across the reboot (%s, was %s)", s.OnionAddress, addr)
	}
	after, err := r.ownValues(ctx)
	if err != nil {
		return err
	}
	for _, o := range r.svc.Options {
		if before[o.Name] != after[o.Name] {
			if o.Type == catalog.TypeSecret {
				return fmt.Errorf("option %s (a secret) changed across the reboot", o.Name)
			}
			return fmt.Errorf("option %s changed across the reboot: %q, was %q", o.Name, after[o.Name], before[o.Name])
		}
	}
	return r.proveAfterReboot(ctx)
}

func (r *run) persistOff(ctx context.Context) error {
	addr, s, err := r.rebootWith(ctx, false)
	if err != nil {
		return err
	}
	if s.OnionAddress != "" && s.OnionAddress == addr {
		return fmt.Errorf("amnesic, yet the address %s survived the reboot", addr)
	}
	return r.proveAfterReboot(ctx)
}

// freePort is a TCP port of 127.0.0.1 no one listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"tails-server/internal/api"
	"tails-server/internal/apitype"
	"tails-server/internal/confine"
	"tails-server/internal/isolation"
	"tails-server/internal/peercred"
	"tails-server/internal/services"
)

// confineState is the daemon's part of confined applications: the
// namespaces' manager and the programs running in them.
type confineState struct {
	mgr   *confine.Manager
	ready bool   // the listeners' addresses are in place
	why   string // why not, for the error

	mu    sync.Mutex
	progs map[*confinedProg]bool
}

// setupConfine, when the policy confines applications, removes what a
// crashed daemon left and, when the daemon's tor (or the system tor) opens
// their listeners, checks the range and puts the listeners' addresses on
// loopback before tor starts.
func setupConfine(ctx context.Context, p *isolation.Policy, listeners bool, log *slog.Logger) (*confineState, error) {
	cs := &confineState{mgr: &confine.Manager{}, progs: map[*confinedProg]bool{}}
	apps := p.ConfinedApps()
	// Only a daemon that confines cleans up (one per machine does): one
	// that does not must not touch another's namespaces.
	if len(apps) > 0 && os.Geteuid() == 0 {
		if removed := cs.mgr.Cleanup(ctx); len(removed) > 0 {
			log.Warn("confine: removed what an earlier daemon left", "removed", removed)
		}
	}
	switch {
	case len(apps) == 0:
		cs.why = "the isolation policy confines no application: mark it confine: true in the policy, or start the daemon with --isolation-confine for the browser"
		return cs, nil
	case !listeners:
		cs.why = "this daemon's tor does not open the policy's ports (testnet mode: give --isolation-port-offset)"
		return cs, nil
	}
	var hosts []netip.Addr
	for _, a := range apps {
		hosts = append(hosts, a.Host)
	}
	if err := cs.mgr.Prepare(ctx, p.ConfinePrefix(), hosts); err != nil {
		return nil, fmt.Errorf("confined applications: %w", err)
	}
	cs.ready = true
	return cs, nil
}

// stopConfined kills the confined programs and removes their
// namespaces (at shutdown).
func (d *daemon) stopConfined() {
	if d.iso == nil || d.iso.confine == nil {
		return
	}
	cs := d.iso.confine
	cs.mu.Lock()
	progs := make([]*confinedProg, 0, len(cs.progs))
	for p := range cs.progs {
		progs = append(progs, p)
	}
	cs.mu.Unlock()
	for _, p := range progs {
		p.Close()
	}
	if cs.ready {
		var hosts []netip.Addr
		for _, a := range d.iso.policy.ConfinedApps() {
			hosts = append(hosts, a.Host)
		}
		cs.mgr.Unprepare(context.Background(), hosts)
	}
}

// countPrograms fills in how many programs run in each confined
// application's namespace.
func (d *daemon) countPrograms(cs []apitype.IsolationConfined) {
	if d.iso == nil || d.iso.confine == nil {
		return
	}
	inUse := d.iso.confine.mgr.InUse()
	for i := range cs {
		cs[i].Programs = inUse[cs[i].App]
	}
}

func bad(status int, msg, hint string) error {
	return &services.Error{Status: status, Msg: msg, Hint: hint}
}

// PrepareConfined checks a request to run a confined program for the
// caller and sets its namespace up.
func (d *daemon) PrepareConfined(ctx context.Context, caller peercred.Cred, req apitype.ConfineRun) (api.ConfinedProgram, error) {
	if d.iso == nil || d.iso.policy == nil {
		return nil, bad(http.StatusNotFound, "this daemon has no isolation policy (--isolation-policy none)", "")
	}
	p, cs := d.iso.policy, d.iso.confine
	if _, ok := p.App(req.App); !ok {
		return nil, bad(http.StatusBadRequest, fmt.Sprintf("unknown app %q", req.App), "`tails-server isolation apps` lists the apps of the daemon's policy")
	}
	c, ok := p.ConfinedApp(req.App)
	if !ok {
		return nil, bad(http.StatusBadRequest, fmt.Sprintf("app %s is not confined by the daemon's policy", req.App), "mark it confine: true in the policy (daemon --isolation-policy), or start the daemon with --isolation-confine for the browser")
	}
	if cs == nil || !cs.ready {
		why := "confinement is not set up"
		if cs != nil {
			why = cs.why
		}
		return nil, bad(http.StatusConflict, why, "")
	}
	if caller.UID == 0 {
		return nil, bad(http.StatusForbidden, "refusing to run a confined program as root", "run `tails-server isolation run --confine` as the desktop user (a member of the daemon's group)")
	}
	if len(req.Command) == 0 || req.Command[0] == "" {
		return nil, bad(http.StatusBadRequest, "no command to run", "")
	}
	if req.IsolateKey != "" {
		if err := isolation.CheckIsolateKey(req.IsolateKey); err != nil {
			return nil, bad(http.StatusBadRequest, err.Error(), "")
		}
	}
	if req.Dir != "" && !filepath.IsAbs(req.Dir) {
		return nil, bad(http.StatusBadRequest, "the working directory must be an absolute path", "")
	}
	if len(req.Env) > 4096 {
		return nil, bad(http.StatusBadRequest, "environment too large", "")
	}
	ports := [3]int{}
	for i, l := range []isolation.Port{c.Socks, c.Trans, c.DNS} {
		a, err := l.Addr(d.iso.offset)
		if err != nil {
			return nil, err
		}
		_, ps, _ := net.SplitHostPort(a)
		ports[i], _ = strconv.Atoi(ps)
	}
	spec := confine.Spec{App: c.App, Index: c.Index, Host: c.Host, NS: c.NS,
		SocksPort: ports[0], TransPort: ports[1], DNSPort: ports[2], Transparent: req.Transparent}
	socks := net.JoinHostPort(c.Host.String(), strconv.Itoa(ports[0]))
	setup, err := p.PrepareRunAt(req.App, socks, req.IsolateKey, req.Env)
	if err != nil {
		return nil, bad(http.StatusBadRequest, err.Error(), "")
	}
	// The torsocks file and the environment are the caller's to read.
	envFile := filepath.Join(setup.Dir, "env")
	if err := confine.WriteEnvFile(envFile, setup.Env); err != nil {
		setup.Cleanup()
		return nil, err
	}
	if err := chownTree(setup.Dir, caller.UID, caller.GID); err != nil {
		setup.Cleanup()
		return nil, err
	}
	t0 := time.Now()
	release, err := cs.mgr.Acquire(ctx, spec)
	setupTime := time.Since(t0)
	if err != nil {
		setup.Cleanup()
		if _, ok := err.(*confine.InUseError); ok {
			return nil, bad(http.StatusConflict, err.Error(), "")
		}
		return nil, bad(http.StatusInternalServerError, "setting up namespace "+spec.Namespace()+": "+err.Error(), "nothing was left configured; `tails-server isolation apps` shows the confined apps")
	}
	argv := req.Command
	if req.Torsocks {
		argv = append([]string{"torsocks"}, argv...)
	}
	// SOCKS-only: forked straight into the namespace. Transparent: through
	// `ip netns exec`, whose mount namespace puts the namespace's
	// resolv.conf in place (a host resolver on 127.0.0.53 would otherwise
	// stay on the namespace's loopback).
	var cmd *exec.Cmd
	start := func() error { return cmd.Start() }
	if req.Transparent {
		cmd, err = cs.mgr.Command(context.Background(), spec, caller.UID, caller.GID, argv, envFile, req.Dir)
	} else {
		cmd, err = cs.mgr.Direct(spec, caller.UID, caller.GID, argv, setup.Env, req.Dir)
		start = func() error { return cs.mgr.StartIn(spec, cmd) }
	}
	if err != nil {
		release()
		setup.Cleanup()
		return nil, bad(http.StatusForbidden, err.Error(), "")
	}
	prog := &confinedProg{cs: cs, cmd: cmd, start: start, release: release, setup: setup, done: make(chan struct{}),
		started: apitype.ConfineStarted{Namespace: spec.Namespace(), SocksAddr: socks, Addr: c.NS.String(), Transparent: req.Transparent, UID: caller.UID}}
	cs.mu.Lock()
	cs.progs[prog] = true
	cs.mu.Unlock()
	d.cfg.Log.Info("confine: program prepared", "app", c.App, "namespace", spec.Namespace(), "uid", caller.UID, "pid", caller.PID, "transparent", req.Transparent, "setup", setupTime.Round(time.Microsecond))
	return prog, nil
}

// chownTree gives the run's private directory (flat: the files root just
// wrote) to the caller, its files before itself, never following links.
func chownTree(dir string, uid, gid int) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.Lchown(filepath.Join(dir, e.Name()), uid, gid); err != nil {
			return err
		}
	}
	return os.Lchown(dir, uid, gid)
}

// confinedProg is one confined command.
type confinedProg struct {
	cs      *confineState
	cmd     *exec.Cmd
	start   func() error // starts cmd in the namespace
	release func()
	setup   *isolation.RunSetup
	started apitype.ConfineStarted

	once sync.Once
	done chan struct{} // closed when it has exited (or never started)
	code int
	mu   sync.Mutex
	run  bool
}

func (p *confinedProg) Start(stdio [3]*os.File) (apitype.ConfineStarted, error) {
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = stdio[0], stdio[1], stdio[2]
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.start(); err != nil {
		return p.started, fmt.Errorf("starting the confined program: %w", err)
	}
	p.run = true
	p.started.PID = p.cmd.Process.Pid
	go func() {
		err := p.cmd.Wait()
		p.code = exitStatus(p.cmd, err)
		close(p.done)
	}()
	return p.started, nil
}

func exitStatus(cmd *exec.Cmd, err error) int {
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if err != nil && cmd.ProcessState == nil {
		return 127
	}
	return cmd.ProcessState.ExitCode()
}

func (p *confinedProg) Signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run {
		p.cmd.Process.Signal(sig)
	}
}

func (p *confinedProg) Wait() int {
	<-p.done
	return p.code
}

func (p *confinedProg) Close() {
	p.once.Do(func() {
		p.mu.Lock()
		run := p.run
		p.mu.Unlock()
		if run {
			select {
			case <-p.done:
			default:
				p.cmd.Process.Kill()
				<-p.done
			}
		}
		p.release()
		p.setup.Cleanup()
		p.cs.mu.Lock()
		delete(p.cs.progs, p)
		p.cs.mu.Unlock()
	})
}

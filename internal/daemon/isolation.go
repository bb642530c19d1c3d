package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/isolation"
	"tails-server/internal/services"
	"tails-server/internal/tor"
	"tails-server/internal/torsup"
)

// isoState is the daemon's stream isolation policy.
type isoState struct {
	policy  *isolation.Policy // nil with --isolation-policy none
	offset  int
	inTorrc bool
	confine *confineState // nil with --isolation-policy none
}

// setupIsolation loads and checks the policy and, in testnet and public
// modes, adds its listeners to the daemon's own tor: always in public
// mode, in testnet mode when --isolation-policy or
// --isolation-port-offset is given (test networks share one machine, and
// 9050 may be taken). Bad policies stop the daemon before anything
// starts.
func setupIsolation(ctx context.Context, cfg Config, tcfg *torsup.Config) (*isoState, error) {
	st := &isoState{offset: cfg.IsolationPortOffset}
	if cfg.IsolationPolicy == "none" {
		return st, nil
	}
	p := isolation.Default()
	if cfg.IsolationPolicy != "" {
		var err error
		if p, err = isolation.LoadFile(cfg.IsolationPolicy); err != nil {
			return nil, err
		}
	}
	if cfg.IsolationConfine {
		if err := p.ConfineTailsBrowser(); err != nil {
			return nil, err
		}
	}
	if err := p.CheckOffset(st.offset); err != nil {
		return nil, err
	}
	st.policy = p
	if cfg.Network == torsup.System || (cfg.Network == torsup.Testnet && !cfg.IsolationExplicit) {
		if err := p.Validate(nil); err != nil {
			return nil, err
		}
		var err error
		st.confine, err = setupConfine(ctx, p, cfg.Network == torsup.System, cfg.Log.With("part", "confine"))
		return st, err
	}
	supported, err := isolation.SupportedFlags(ctx, cfg.TorBinary)
	if err != nil {
		return nil, fmt.Errorf("checking the isolation policy's flags: %w", err)
	}
	if err := p.Validate(supported); err != nil {
		return nil, err
	}
	lines, err := p.TorrcLines(st.offset)
	if err != nil {
		return nil, err
	}
	tcfg.IsolationTorrc = lines
	st.inTorrc = true
	st.confine, err = setupConfine(ctx, p, true, cfg.Log.With("part", "confine"))
	return st, err
}

// checkIsolation logs the policy's listeners the tor just connected to
// lacks (system mode: the daemon never changes the system tor).
func (d *daemon) checkIsolation(ctx context.Context, c *tor.Conn, log *slog.Logger) {
	if d.iso == nil || d.iso.policy == nil {
		return
	}
	if !d.iso.inTorrc && d.cfg.Network != torsup.System {
		// Testnet mode without --isolation-*: left out on purpose.
		log.Info("isolation: the policy's ports are not added to this tor (give --isolation-port-offset or --isolation-policy to add them)")
		return
	}
	desc := d.iso.policy.Describe(d.iso.offset)
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := isolation.CheckTor(cctx, c, &desc); err != nil {
		log.Warn("isolation: cannot check tor's ports", "err", err)
		return
	}
	for _, m := range desc.Missing {
		log.Warn("isolation: tor lacks part of the policy", "problem", m)
	}
}

// torReady is the Ready hook of the daemon's tors: the isolation check
// (on the first, which has the isolation ports), then the services.
func (d *daemon) torReady(ctx context.Context, i int, c *tor.Conn) {
	if i == 0 {
		go d.checkIsolation(ctx, c, d.cfg.Log.With("part", "isolation"))
	}
	d.svcs.TorReady(ctx, i, c)
}

// IsolationPolicy returns the policy and what the running tor exposes of
// it.
func (d *daemon) IsolationPolicy(ctx context.Context) (apitype.IsolationPolicy, error) {
	if d.iso == nil || d.iso.policy == nil {
		return apitype.IsolationPolicy{}, &services.Error{Status: http.StatusNotFound, Msg: "this daemon has no isolation policy (--isolation-policy none)"}
	}
	desc := d.iso.policy.Describe(d.iso.offset)
	desc.InTorrc = d.iso.inTorrc
	d.countPrograms(desc.Confined)
	if c := d.sup.Conn(); c != nil {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := isolation.CheckTor(cctx, c, &desc); err != nil {
			return desc, nil // Checked stays false
		}
	}
	return desc, nil
}

// IsolationAudit audits the daemon's tor until ctx ends, on its control
// connection, following it across reconnections.
func (d *daemon) IsolationAudit(ctx context.Context, emit func(apitype.IsolationAuditEvent)) (*apitype.IsolationAudit, error) {
	a := &isolation.Auditor{
		Emit: emit,
		Connect: func(ctx context.Context) (*tor.Conn, func(), error) {
			c, err := d.sup.WaitReady(ctx)
			if err != nil {
				return nil, nil, err
			}
			return c, func() {}, nil
		},
	}
	if d.iso != nil {
		a.Policy, a.Offset = d.iso.policy, d.iso.offset
	}
	return a.Run(ctx)
}

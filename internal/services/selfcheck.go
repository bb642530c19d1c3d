package services

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/health"
	"tails-server/internal/socks"
	"tails-server/internal/tor"
)

// checkLoop proves the service reachable, then keeps checking it; after
// FailuresBeforeRepublish failures in a row it re-publishes the onion.
func (m *Manager) checkLoop(ctx context.Context, s *service, c *tor.Conn) {
	// Wait until the descriptor reached its directories (or give up
	// waiting after 30 s: the check itself says whether the service can
	// be reached). Asking earlier would make tor remember the directories
	// as lacking it, and not ask them again for a while (15 minutes on
	// the public network).
	s.mu.Lock()
	settled := s.settled
	s.mu.Unlock()
	select {
	case <-settled:
	case <-time.After(publishTimeout):
	case <-ctx.Done():
		return
	}

	m.freshDescriptor(ctx, s)

	failures := 0
	retry := 500 * time.Millisecond
	reached := false
	for failed := false; ctx.Err() == nil; {
		if failed {
			// The checker may hold a descriptor the hosting tor has
			// since replaced (it came back online, it re-published).
			m.freshDescriptor(ctx, s)
		}
		res := m.checkOnce(ctx, s)
		failed = !res.OK
		if ctx.Err() != nil {
			return
		}
		m.opt.Metrics.Check(s.def.Name, res.OK, res.Duration)
		m.recordCheck(s, res)
		s.mu.Lock()
		s.lastCheck = &res
		if res.OK {
			failures, reached, retry = 0, true, 500*time.Millisecond
			s.fire(evCheckOK, "")
		} else {
			failures++
			if reached {
				s.fire(evCheckFailed, "self-check failed: "+res.Error)
			} else {
				s.fire(evCheckFailed, "not reachable yet: "+res.Error)
			}
		}
		s.mu.Unlock()

		wait := m.opt.CheckInterval
		switch {
		case !res.OK && reached && failures >= m.opt.FailuresBeforeRepublish:
			m.log.Warn("service unreachable, re-publishing", "service", s.def.Name, "err", res.Error)
			go m.republish(s, c)
			return
		case !res.OK && !reached:
			// Not reachable yet: the descriptor may still be on its way.
			wait = retry
			retry = min(retry*2, 5*time.Second)
		case !res.OK:
			wait = min(10*time.Second, m.opt.CheckInterval)
		}
		select {
		case <-time.After(wait):
		case <-s.kick:
		case <-ctx.Done():
			return
		}
	}
}

func (m *Manager) republish(s *service, c *tor.Conn) {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	ok := s.rec.Enabled && s.backend != nil && s.added == c
	s.republished++
	s.mu.Unlock()
	if ok && m.torOf(s).Conn() == c {
		m.publish(context.Background(), s, c)
	}
}

// freshDescriptor has the checker tor fetch the service's descriptor
// before the first check of a publication and after a failed one, and
// waits (at most 20 s) until it arrived. The checker is a client of its own that outlives the tors
// hosting the onions: after one of them restarted, its cache still holds
// the descriptor of the onion's earlier run, whose introduction points
// went with the old tor, and it would try those (seen: 2 minutes without
// a check passing after a kill -9 of the hosting tor). A fetched
// descriptor replaces the cached one when it is newer.
func (m *Manager) freshDescriptor(ctx context.Context, s *service) {
	if m.opt.Checker == nil {
		return
	}
	cc := m.opt.Checker.Conn()
	if cc == nil {
		return // a new checker has nothing cached
	}
	s.mu.Lock()
	addr := s.rec.Address
	s.mu.Unlock()
	events, cancel, err := cc.Subscribe("HS_DESC")
	if err != nil {
		return
	}
	defer cancel()
	ctx, stop := context.WithTimeout(ctx, 20*time.Second)
	defer stop()
	if err := cc.HSFetch(ctx, addr); err != nil {
		m.log.Warn("fetching the descriptor for the self-check", "service", s.def.Name, "err", err)
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-cc.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			// RECEIVED: the cache has the newest; FAILED: a directory
			// lacks it, and the check will tell.
			if d, ok := tor.ParseHSDesc(ev); ok && d.Address == addr && (d.Action == "RECEIVED" || d.Action == "FAILED") {
				return
			}
		}
	}
}

// checkTor is the tor the self-checks of s go through: the checker, which
// alone holds the daemon's own credentials.
func (m *Manager) checkTor(s *service) Tor {
	if m.opt.Checker != nil {
		return m.opt.Checker
	}
	return m.torOf(s)
}

// checkOnce connects to the service through the checker tor's SOCKS
// socket and speaks its protocol.
func (m *Manager) checkOnce(ctx context.Context, s *service) apitype.Check {
	// Pace: at most PublishConcurrency checks under way at once.
	pc := m.pacerOf(s)
	select {
	case pc.checking <- struct{}{}:
		defer func() { <-pc.checking }()
	case <-ctx.Done():
		return apitype.Check{Time: time.Now(), Error: ctx.Err().Error(), Step: health.StepOther}
	}
	start := time.Now()
	s.mu.Lock()
	host := s.rec.Address + ".onion"
	port := s.def.OnionPorts[0].Virtual
	s.mu.Unlock()
	step := health.StepChecker
	err := func() error {
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		ct := m.checkTor(s)
		// A checker that restarts (or still bootstraps) says nothing of
		// the service: wait for it rather than count a failure.
		if w, ok := ct.(interface {
			WaitReady(context.Context) (*tor.Conn, error)
		}); ok {
			if _, err := w.WaitReady(cctx); err != nil {
				return fmt.Errorf("the checker tor: %w", err)
			}
		}
		proxy := ct.SocksAddr()
		if proxy == "" {
			return errors.New("tor has no SOCKS port")
		}
		target := fmt.Sprintf("%s:%d", host, port)
		step = health.StepConnect
		conn, err := socks.Dial(cctx, proxy, target, nil)
		if socks.IsCode(err, socks.CodeOnionMissingAuth) && m.restoreSelfCredential(cctx, s) {
			conn, err = socks.Dial(cctx, proxy, target, nil)
		}
		if err != nil {
			return err
		}
		defer conn.Close()
		step = health.StepProtocol
		return probe(s.def, conn, host)
	}()
	res := apitype.Check{Time: start, OK: err == nil, Duration: time.Since(start)}
	if err != nil {
		res.Error, res.Step = err.Error(), step
	}
	return res
}

// restoreSelfCredential gives the checker tor the daemon's own client
// credential again. Tor forgets credentials added over the control port
// whenever it restarts or reloads its configuration (SETCONF, SIGHUP), so
// a "missing client authorization" answer to the self-check is repaired
// here.
func (m *Manager) restoreSelfCredential(ctx context.Context, s *service) bool {
	if m.opt.Checker == nil {
		return false
	}
	c := m.opt.Checker.Conn()
	s.mu.Lock()
	addr, key := s.rec.Address, s.selfKey
	s.mu.Unlock()
	if c == nil || key == nil {
		return false
	}
	if err := c.OnionClientAuthAdd(ctx, addr, key, "", false); err != nil {
		m.log.Warn("restoring the self-check credential", "service", s.def.Name, "err", err)
		return false
	}
	m.log.Info("self-check credential restored", "service", s.def.Name)
	return true
}

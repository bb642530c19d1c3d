package services

import (
	"context"
	"fmt"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/onionkey"
	"tails-server/internal/supervise"
)

// Enable makes the key if there is none, starts the backend unless it
// runs, adds the onion unless it is up, and waits, at most wait, for the
// self-check to reach it. From every state this ends reachable or failed
// with the reason (state.go), or disabled when a timer ended it meanwhile;
// before its start-at time, it is scheduled at once (timers.go). A
// service that is not reachable in time
// stays enabled, its self-checks going on, and its info says how far it
// got.
func (m *Manager) Enable(ctx context.Context, name string, wait time.Duration, onionKey []byte) (apitype.Service, error) {
	s, err := m.get(name)
	if err != nil {
		return apitype.Service{}, err
	}
	if wait <= 0 {
		wait = 120 * time.Second
	}
	deadline := time.Now().Add(wait)

	s.op.Lock()
	if len(onionKey) > 0 {
		if err := m.importKey(s, onionKey); err != nil {
			s.op.Unlock()
			return apitype.Service{}, err
		}
	}
	if err := m.ensureKeys(s); err != nil {
		s.op.Unlock()
		return apitype.Service{}, err
	}
	s.mu.Lock()
	at, later := m.waitsForStart(s)
	up := onionUp(s.state)
	s.mu.Unlock()
	if later && !up {
		// Before start-at: recorded enabled, published then (timers.go).
		err := m.takeDown(ctx, s, true, evSchedule, scheduledWhy(at))
		s.op.Unlock()
		if err != nil {
			return apitype.Service{}, err
		}
		return m.info(s, false, false), nil
	}
	s.mu.Lock()
	s.fire(evEnable, "")
	s.mu.Unlock()
	if err := m.startBackend(ctx, s); err != nil {
		s.op.Unlock()
		return apitype.Service{}, err
	}
	s.mu.Lock()
	s.rec.Enabled = true
	err = m.store.Save(s.rec)
	s.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("saving the state of %s: %w", name, err)
		m.stopBackend(s, evBackendFailed, err.Error())
		s.op.Unlock()
		return apitype.Service{}, err
	}
	m.ensurePublished(ctx, s)
	s.op.Unlock()

	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	// Disabled: stop-after or auto-stop ended it meanwhile.
	m.waitState(wctx, s, apitype.StateReachable, apitype.StateFailed, apitype.StateDisabled)
	return m.info(s, false, false), nil
}

// ensurePublished adds the onion on its tor's current connection unless
// it is up there with its self-checks under way; with no connection yet,
// TorReady adds it. Call with s.op held and the backend running.
func (m *Manager) ensurePublished(ctx context.Context, s *service) {
	c := m.torOf(s).Conn()
	if c == nil {
		return
	}
	s.mu.Lock()
	up := onionUp(s.state) && s.added == c && s.stopChecks != nil
	s.mu.Unlock()
	if !up {
		m.publish(ctx, s, c)
	}
}

// waitState waits until the service is in one of the states, or ctx ends.
func (m *Manager) waitState(ctx context.Context, s *service, states ...string) {
	for {
		s.mu.Lock()
		st, ch := s.state, s.changed
		s.mu.Unlock()
		for _, w := range states {
			if st == w {
				return
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

func (m *Manager) ensureKeys(s *service) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == nil {
		k, err := onionkey.GenerateServiceKey()
		if err != nil {
			return err
		}
		// The key file is written first: the address is always derived
		// from it, so a kill between the two writes loses nothing.
		if err := m.store.WriteKey(s.def.Name, k.SecretKeyFile()); err != nil {
			return fmt.Errorf("saving the onion key of %s: %w", s.def.Name, err)
		}
		s.key = k
		s.rec.Address = k.Address()
	}
	if err := generateSecrets(s); err != nil {
		return err
	}
	if s.selfKey == nil {
		ck, err := onionkey.GenerateClientKey()
		if err != nil {
			return err
		}
		s.selfKey = ck
		s.rec.SelfCheckKey = ck.PrivateBase32()
	}
	if err := m.store.Save(s.rec); err != nil {
		return fmt.Errorf("saving the state of %s: %w", s.def.Name, err)
	}
	return nil
}

// startBackend starts the backend unless it runs: evBackendUp or
// evBackendFailed, with the reason. The caller fired the event that asked
// for it (evEnable, evRestart). Call with s.op held.
func (m *Manager) startBackend(ctx context.Context, s *service) error {
	s.mu.Lock()
	if s.backend != nil {
		s.mu.Unlock()
		return nil
	}
	values := m.values(s)
	address := s.rec.Address
	s.mu.Unlock()
	m.removeStaleStaging(s)
	b, err := startBackend(ctx, s.def, m.store, values, address, m.installer, m.log, func(p apitype.Progress) {
		s.mu.Lock()
		s.progress = p.Step
		s.notify(p)
		s.mu.Unlock()
	}, func(p *supervise.Process, ev event, why string) { m.backendEvent(s, p, ev, why) })
	s.mu.Lock()
	defer s.mu.Unlock()
	s.progress = ""
	if err != nil {
		s.fire(evBackendFailed, "backend did not start: "+err.Error())
		return fmt.Errorf("starting %s: %w", s.def.Name, err)
	}
	s.backend = b
	m.hookBackend(s, b)
	s.mu.Unlock()
	err = m.applyFirewall(ctx)
	s.mu.Lock()
	if err != nil {
		b.Close()
		s.backend = nil
		s.fire(evBackendFailed, err.Error())
		return fmt.Errorf("starting %s: %w", s.def.Name, err)
	}
	s.fire(evBackendUp, "")
	return nil
}

// backendEvent is what the supervisor of the running backend p tells:
// it exited, or runs again (then the self-check looks at once).
func (m *Manager) backendEvent(s *service, p *supervise.Process, ev event, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.backend.(*process); !ok || cur.Process != p {
		return
	}
	s.fire(ev, why)
	if ev == evBackendRestarted {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// stopBackend stops the backend and the self-checks and, unless ev is "",
// fires ev with why as its reason. Call with s.op held.
func (m *Manager) stopBackend(s *service, ev event, why string) {
	s.mu.Lock()
	if s.stopChecks != nil {
		s.stopChecks()
		s.stopChecks = nil
	}
	had := s.backend != nil
	if had {
		s.backend.Close()
		s.backend = nil
	}
	if ev != "" {
		s.fire(ev, why)
	}
	s.mu.Unlock()
	if had {
		if err := m.applyFirewall(context.Background()); err != nil {
			m.log.Warn("firewall", "err", err)
		}
	}
}

// Disable stops the backend and withdraws the onion. Key and clients stay.
func (m *Manager) Disable(ctx context.Context, name string) (apitype.Service, error) {
	return m.disable(ctx, name, "")
}

// disable is Disable; why, if not "", is the reason status gives.
func (m *Manager) disable(ctx context.Context, name, why string) (apitype.Service, error) {
	s, err := m.get(name)
	if err != nil {
		return apitype.Service{}, err
	}
	s.op.Lock()
	defer s.op.Unlock()
	if err := m.takeDown(ctx, s, false, evDisable, why); err != nil {
		return apitype.Service{}, err
	}
	return m.info(s, false, false), nil
}

// takeDown records the service enabled or not, withdraws its onion,
// stops its backend and fires ev (evDisable, or evSchedule for an enable
// before start-at) with why as the reason; the publication's deadlines
// go with it. Call with s.op held.
func (m *Manager) takeDown(ctx context.Context, s *service, enabled bool, ev event, why string) error {
	name := s.def.Name
	s.mu.Lock()
	s.rec.Enabled = enabled
	s.rec.PublishedAt, s.rec.StopAt = nil, nil
	err := m.store.Save(s.rec)
	added, addr := s.added, s.rec.Address
	s.added = nil
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("saving the state of %s: %w", name, err)
	}
	if added != nil {
		if !m.withdrawDir(ctx, s, added) { // publish_dir.go
			if err := added.DelOnion(ctx, addr); err != nil {
				m.log.Warn("removing the onion", "service", name, "err", err)
			}
		}
		added.OnionClientAuthRemove(ctx, addr)
		m.dropConnections(ctx, s, added, addr)
	}
	m.stopBackend(s, ev, why)
	m.releaseTor(s)
	s.mu.Lock()
	m.armTimer(s)
	s.mu.Unlock()
	return nil
}

// Stop stops every backend (daemon shutdown) and removes the firewall
// table. The stored state stays as is, so enabled services come back with
// the daemon.
func (m *Manager) Stop() {
	m.stopTimers()
	for _, s := range m.all() {
		s.op.Lock()
		m.stopBackend(s, "", "")
		s.op.Unlock()
	}
	if m.opt.Firewall != nil {
		if err := m.opt.Firewall.Remove(context.Background()); err != nil {
			m.log.Warn("removing the firewall table", "err", err)
		}
	}
}

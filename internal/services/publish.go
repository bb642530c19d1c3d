package services

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"tails-server/internal/catalog"
	"tails-server/internal/onionkey"
	"tails-server/internal/tor"
)

// TorReady re-adds the onion of every enabled service the i-th tor carries
// on its new control connection: after that tor restarted, or the system
// tor's control connection came back.
func (m *Manager) TorReady(ctx context.Context, i int, c *tor.Conn) {
	m.detectPoW(ctx, i, c) // protection.go
	go m.followDescriptors(ctx, c)
	// Every service at once; publishOpts paces them.
	var wg sync.WaitGroup
	for _, s := range m.all() {
		m.mu.Lock()
		mine := s.torIndex == i
		m.mu.Unlock()
		if !mine {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.op.Lock()
			defer s.op.Unlock()
			s.mu.Lock()
			enabled, running := s.rec.Enabled, s.backend != nil
			if enabled && running {
				s.fire(evTorRestarted, "")
			}
			s.mu.Unlock()
			if enabled && running {
				m.publish(ctx, s, c)
			}
		}()
	}
	wg.Wait()
}

// followDescriptors counts HS_DESC UPLOADED events per service.
func (m *Manager) followDescriptors(ctx context.Context, c *tor.Conn) {
	events, cancel, err := c.Subscribe("HS_DESC")
	if err != nil {
		m.log.Warn("cannot follow descriptor uploads", "err", err)
		return
	}
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			d, ok := tor.ParseHSDesc(ev)
			if !ok || (d.Action != "UPLOAD" && d.Action != "UPLOADED" && d.Action != "FAILED") {
				continue
			}
			for _, s := range m.all() {
				s.mu.Lock()
				if s.key != nil && s.rec.Address == d.Address && s.added == c {
					s.descriptorEvent(d)
					if d.Action != "UPLOAD" {
						m.opt.Metrics.DescriptorUpload(s.def.Name, d.Action == "UPLOADED")
					}
				}
				s.mu.Unlock()
			}
		}
	}
}

// clientAuthKeys lists the public keys tor must accept: every client's
// and the daemon's own self-check key (its public half only: the secret
// half goes to the checker tor alone, see selfCredential). Call with s.mu
// held.
func (s *service) clientAuthKeys() ([]string, error) {
	keys := []string{s.selfKey.PublicBase32()}
	for _, c := range s.rec.Clients {
		k, err := onionkey.ParseClientPrivateBase32(c.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("client %s of %s: %w", c.Name, s.def.Name, err)
		}
		keys = append(keys, k.PublicBase32())
	}
	return keys, nil
}

// publish (re-)adds the service's onion on c and starts its self-checks.
// Call with s.op held.
func (m *Manager) publish(ctx context.Context, s *service, c *tor.Conn) {
	m.publishOpts(ctx, s, c, false)
}

// publishOpts is publish; with drop, the open connections of the old onion
// are cut (a client was revoked: its open rendezvous circuit must not go
// on working with the re-added service).
func (m *Manager) publishOpts(ctx context.Context, s *service, c *tor.Conn, drop bool) {
	s.mu.Lock()
	if s.stopChecks != nil {
		s.stopChecks()
		s.stopChecks = nil
	}
	prev := s.added
	keys, err := s.clientAuthKeys()
	if err != nil || s.backend == nil {
		if err == nil {
			err = errors.New("backend not running")
		}
		s.fire(evPublishFailed, err.Error())
		s.mu.Unlock()
		return
	}
	req := tor.AddOnionRequest{Key: s.key}
	for _, p := range s.def.OnionPorts {
		target, ok := s.backend.Target(p.Target)
		if !ok {
			s.fire(evPublishFailed, fmt.Sprintf("onion port %d: no local port %q", p.Virtual, p.Target))
			s.mu.Unlock()
			return
		}
		req.Ports = append(req.Ports, tor.PortMapping{Virtual: p.Virtual, Target: target})
	}
	auth := m.value(s, catalog.OptClientAuth) == "true"
	if auth {
		req.ClientAuthV3 = keys
	}
	m.protect(s, &req) // protection.go
	addr, selfKey := s.rec.Address, s.selfKey
	master := m.value(s, catalog.OptBalanceMaster) // publish_dir.go
	s.mu.Unlock()

	if prev == c {
		// Same connection: the old onion must go first, or tor refuses
		// the new one as a collision.
		// One in tor's configuration goes from there (publish_dir.go).
		if !m.withdrawDir(ctx, s, c) {
			if err := c.DelOnion(ctx, addr); err != nil {
				m.log.Warn("removing the old onion", "service", s.def.Name, "err", err)
			}
		}
		if drop {
			m.dropConnections(ctx, s, c, addr)
		}
	}
	// Pace: at most PublishConcurrency descriptors on their way at once.
	pc := m.pacerOf(s)
	select {
	case pc.publishing <- struct{}{}:
	case <-ctx.Done():
		s.mu.Lock()
		s.fire(evPublishFailed, "publishing the onion: "+ctx.Err().Error())
		s.mu.Unlock()
		return
	}
	if master != "" && !auth {
		err = m.publishDir(ctx, s, c, req, master)
	} else {
		err = m.addOnion(ctx, s, c, req)
	}
	m.opt.Metrics.Publication(s.def.Name, err == nil)
	if err != nil {
		<-pc.publishing
		s.mu.Lock()
		s.fire(evPublishFailed, "publishing the onion: "+err.Error())
		s.mu.Unlock()
		return
	}
	m.selfCredential(ctx, s, c, addr, selfKey, auth)
	cctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.added = c
	s.uploads = 0
	s.inFlight, s.settled = map[string]bool{}, make(chan struct{})
	go func(settled <-chan struct{}) {
		select {
		case <-settled:
		case <-time.After(publishTimeout):
		}
		<-pc.publishing
	}(s.settled)
	s.stopChecks = cancel
	s.fire(evOnionAdded, "")
	m.published(s) // timers.go: stop-after counts from here
	s.mu.Unlock()
	m.log.Info("onion added", "service", s.def.Name, "address", addr+".onion")
	go m.checkLoop(cctx, s, c)
}

// selfCredential puts the daemon's own credential for addr where the
// self-check needs it and nowhere else. Tor applies a credential added over
// the control port to every SOCKS stream of that tor: on the tor that
// carries the onion (the system tor, in system mode, whose SOCKS port
// every application uses) it would let every local process in without a
// credential of its own. So it goes to the checker tor only, whose SOCKS
// socket only root can reach, and is taken off the hosting tor c (where an
// older daemon put it).
func (m *Manager) selfCredential(ctx context.Context, s *service, c *tor.Conn, addr string, key *onionkey.ClientKey, auth bool) {
	c.OnionClientAuthRemove(ctx, addr)
	if m.opt.Checker == nil {
		return
	}
	cc := m.opt.Checker.Conn()
	if cc == nil || cc == c {
		// Not up yet: the first check's "missing client authorization"
		// has restoreSelfCredential add it.
		return
	}
	if !auth {
		cc.OnionClientAuthRemove(ctx, addr)
	} else if err := cc.OnionClientAuthAdd(ctx, addr, key, "", false); err != nil {
		m.log.Warn("adding the self-check credential", "service", s.def.Name, "err", err)
	}
}

// dropConnections closes the rendezvous circuits of a withdrawn onion.
func (m *Manager) dropConnections(ctx context.Context, s *service, c *tor.Conn, addr string) {
	n, err := c.CloseServiceCircuits(ctx, addr)
	if err != nil {
		m.log.Warn("closing open connections", "service", s.def.Name, "err", err)
		return
	}
	m.log.Info("open connections closed", "service", s.def.Name, "circuits", n)
}

// republishIfUp re-adds the onion with the current client list, cutting
// open connections if drop. Call with s.op held.
func (m *Manager) republishIfUp(ctx context.Context, s *service, drop bool) {
	s.mu.Lock()
	up := s.rec.Enabled && s.backend != nil
	s.mu.Unlock()
	if !up {
		return
	}
	if c := m.torOf(s).Conn(); c != nil {
		m.publishOpts(ctx, s, c, drop)
	}
}

// publishTimeout bounds the wait for a descriptor to reach its
// directories, before the self-check asks anyway.
const publishTimeout = 30 * time.Second

// descriptorEvent follows the uploads of the service's descriptor: UPLOAD
// starts one to a directory, UPLOADED or FAILED from that directory ends
// it. A FAILED from a directory no upload went to is the self-check's own
// fetch, not an upload. Call with s.mu held.
func (s *service) descriptorEvent(d tor.HSDesc) {
	switch d.Action {
	case "UPLOAD":
		s.inFlight[d.HSDir] = true
		return
	case "UPLOADED":
		s.uploads++
		s.lastUpload = time.Now()
		s.fire(evUploaded, "")
	}
	if !s.inFlight[d.HSDir] && d.Action == "FAILED" {
		return
	}
	delete(s.inFlight, d.HSDir)
	if s.uploads > 0 && len(s.inFlight) == 0 {
		select {
		case <-s.settled:
		default:
			close(s.settled)
		}
	}
}

package services

import (
	"context"
	"strconv"

	"tails-server/internal/catalog"
	"tails-server/internal/tor"
)

// LaunchedBinary is what a Tor the daemon launched itself may also be:
// the tor program it runs, whose --list-modules says whether it has the
// pow module. A tor that is not the daemon's (the system tor) does not
// implement it, or returns "".
type LaunchedBinary interface {
	LaunchedBinary() string
}

// detectPoW measures, once per start of the i-th tor, whether it takes
// the proof-of-work keywords.
func (m *Manager) detectPoW(ctx context.Context, i int, c *tor.Conn) {
	bin := ""
	if lb, ok := m.tors.Tor(i).(LaunchedBinary); ok {
		bin = lb.LaunchedBinary()
	}
	sup := tor.DetectPoW(ctx, c, bin)
	m.mu.Lock()
	if m.pow == nil {
		m.pow = map[int]tor.PoWSupport{}
	}
	m.pow[i] = sup
	m.mu.Unlock()
	if !sup.Supported {
		m.log.Info("proof-of-work: not supported by this tor", "tor", i+1, "reason", sup.Reason)
	}
}

// powOf returns what the service's tor was measured to support; a tor
// not measured yet counts as supporting it (a refusal still falls back).
func (m *Manager) powOf(s *service) tor.PoWSupport {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sup, ok := m.pow[s.torIndex]; ok {
		return sup
	}
	return tor.PoWSupport{Supported: true}
}

// protect puts the protection options into req: max-streams (with
// MaxStreamsCloseCircuit) and, where the tor supports it, proof of work.
// Call with s.mu held.
func (m *Manager) protect(s *service, req *tor.AddOnionRequest) {
	if n, _ := strconv.Atoi(m.value(s, catalog.OptMaxStreams)); n > 0 {
		req.MaxStreams = n
		req.Flags = append(req.Flags, "MaxStreamsCloseCircuit")
	}
	s.powOff = ""
	if m.value(s, catalog.OptPoW) != "true" {
		return
	}
	sup := m.powOf(s) // m.mu is taken under s.mu, as info does
	if !sup.Supported {
		s.powOff = sup.Reason
		return
	}
	rate, _ := strconv.Atoi(m.value(s, catalog.OptPoWQueueRate))
	burst, _ := strconv.Atoi(m.value(s, catalog.OptPoWQueueBurst))
	req.PoW = &tor.PoWParams{QueueRate: rate, QueueBurst: burst}
}

// addOnion adds the onion; a tor that refuses the proof-of-work keywords
// gets it without them, and the service says why.
func (m *Manager) addOnion(ctx context.Context, s *service, c *tor.Conn, req tor.AddOnionRequest) error {
	_, err := c.AddOnion(ctx, req)
	if err == nil || req.PoW == nil || !tor.IsPoWRefusal(err) {
		return err
	}
	m.log.Info("proof-of-work: not supported by this tor", "service", s.def.Name, "reason", err.Error())
	req.PoW = nil
	if _, err := c.AddOnion(ctx, req); err != nil {
		return err
	}
	s.mu.Lock()
	s.powOff = "tor refused it: " + err.Error()
	s.mu.Unlock()
	return nil
}

// powWarning is what info and status say of a service whose pow option
// is on and whose onion is up without it. Call with s.mu held.
func (s *service) powWarning() []string {
	if s.powOff == "" {
		return nil
	}
	return []string{"proof-of-work: not supported by this tor (" + s.powOff + "); the service is published without it"}
}

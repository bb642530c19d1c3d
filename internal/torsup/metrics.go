package torsup

import (
	"fmt"
	"strconv"

	"tails-server/internal/freeport"
)

// metricsTorrc gives a tor to launch its MetricsPort: a free port on
// 127.0.0.1, answering requests from 127.0.0.1 only. Tor 0.4.9 takes
// neither a unix socket ("unix:/path" fails with "Port out of range") nor
// "auto" for MetricsPort, so any local user could read it; what it
// tells (onion-service counters, keyed by onion address) is why the
// daemon relabels it and serves it only to its API's callers. The port
// changes with every launch.
func metricsTorrc() (addr string, lines []string, err error) {
	ports, err := freeport.Pick(1)
	if err != nil {
		return "", nil, fmt.Errorf("picking tor's metrics port: %w", err)
	}
	addr = "127.0.0.1:" + strconv.Itoa(ports[0])
	return addr, []string{"MetricsPort " + addr + " prometheus", "MetricsPortPolicy accept 127.0.0.1"}, nil
}

// MetricsAddr is the MetricsPort of the daemon's own tor, as launched
// last; "" for the system tor, whose configuration the daemon leaves
// alone.
func (s *Supervisor) MetricsAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return ""
	}
	return s.metrics
}

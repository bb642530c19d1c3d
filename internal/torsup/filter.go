package torsup

import (
	"log/slog"
	"sync"

	"tails-server/internal/tor"
)

// GraterProfile is where Tails' control-port filter, onion-grater, reads
// the profile that lets the daemon's commands through to the system tor
// (the package installs it from packaging/onion-grater/tails-server.yml).
const GraterProfile = "/etc/onion-grater.d/tails-server.yml"

// FilterHint is what every refusal by a control-port filter says to do.
const FilterHint = "install " + GraterProfile + " (from the tails-server package) and restart onion-grater (systemctl restart onion-grater)"

// watchFilter makes the refusals of a control-port filter in front of the
// system tor name the profile to install, and logs one line for each
// command refused (once per command and connection: the daemon goes on,
// and retries).
func watchFilter(c *tor.Conn, log *slog.Logger) {
	var mu sync.Mutex
	said := map[string]bool{}
	c.OnFiltered(FilterHint, func(e *tor.FilteredError) {
		mu.Lock()
		first := !said[e.Command]
		said[e.Command] = true
		mu.Unlock()
		if first {
			log.Warn("tor's control port filter refused " + e.Command + ": " + FilterHint)
		}
	})
}

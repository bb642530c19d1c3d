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
// command refused, once per command in the supervisor's life (said): the
// daemon goes on, and retries, and each retry would say it again.
func watchFilter(c *tor.Conn, log *slog.Logger, said *sync.Map) {
	c.OnFiltered(FilterHint, func(e *tor.FilteredError) {
		if _, again := said.LoadOrStore(e.Command, true); !again {
			log.Warn("tor's control port filter refused " + e.Command + ": " + FilterHint)
		}
	})
}

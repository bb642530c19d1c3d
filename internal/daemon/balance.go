package daemon

import (
	"path/filepath"

	"tails-server/internal/balance"
	"tails-server/internal/store"
	"tails-server/internal/torsup"
)

// Balance is the daemon's Onionbalance masters (api.BalanceDaemon).
func (d *daemon) Balance() *balance.Manager { return d.bal }

// newBalance loads the Onionbalance masters: kept in the state dir (a
// front host is meant to stay), their status sockets and front tor in the
// volatile root. Onionbalance runs with --is-testnet on the private
// network.
func newBalance(cfg Config, tcfg torsup.Config, st *store.Store) (*balance.Manager, error) {
	return balance.New(balance.Options{
		Dir:     filepath.Join(st.Dir, "balance"),
		RunDir:  filepath.Join(st.Volatile, "balance"),
		Binary:  cfg.OnionbalanceBinary,
		Testnet: cfg.Network == torsup.Testnet,
		Tor:     tcfg,
		Log:     cfg.Log.With("part", "balance"),
	})
}

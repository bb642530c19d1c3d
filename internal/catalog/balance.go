package catalog

// OptBalanceMaster is the common option that makes a service an
// Onionbalance instance: the v3 onion address of the master (front)
// service whose descriptor Onionbalance publishes with this instance's
// introduction points; empty (the default) is off. Tor reads it only for
// a HiddenServiceDir service (HiddenServiceOnionbalanceInstance 1 and an
// ob_config naming the master), so such a service is published through
// its tor's configuration instead of ADD_ONION. It excludes client-auth:
// Onionbalance cannot publish descriptors with client authorization.
const OptBalanceMaster = "balance-master"

// balanceOptions are the Onionbalance options, in display order.
func balanceOptions() []Option {
	return []Option{
		{Name: OptBalanceMaster, Title: "Onionbalance master", Type: TypeString, Default: "", ShowInStatus: true,
			Pattern:     `(?i:[a-z2-7]{56}(\.onion)?)?`,
			PatternHelp: "use the master's v3 onion address (56 letters a-z and digits 2-7, then .onion), or empty for none",
			Description: "Serve this public service as one instance of an Onionbalance master address (client authorization must be off); empty: a service of its own."},
	}
}

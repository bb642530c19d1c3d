package apitype

import "time"

// Balance is an Onionbalance master (front) service of this daemon: one
// onion address whose descriptor Onionbalance publishes with the
// introduction points of its instances (public services of other
// daemons, each with its balance-master option set to Address).
type Balance struct {
	Name string `json:"name" yaml:"name"`
	// Address is the master's onion address, "ADDRESS.onion": the one to
	// give to visitors and to each instance's balance-master.
	Address string `json:"address" yaml:"address"`
	// Instances are the instances' addresses ("ADDRESS.onion"), in the
	// order they were added.
	Instances []string `json:"instances" yaml:"instances"`
	// Running says whether onionbalance runs for it (it needs at least
	// one instance).
	Running bool `json:"running" yaml:"running"`
	// Warnings say what needs doing (no instance yet, ...).
	Warnings []string `json:"warnings,omitempty" yaml:"warnings,omitempty"`
}

// BalanceCreateRequest is the body of POST /balance.
type BalanceCreateRequest struct {
	Name string `json:"name"`
	// OnionKey, when set, is the master's existing key: Tor's
	// hs_ed25519_secret_key file or ED25519-V3:<base64>.
	OnionKey []byte `json:"onion_key,omitempty"`
}

// BalanceInstanceRequest is the body of POST and DELETE
// /balance/{name}/instances.
type BalanceInstanceRequest struct {
	Address string `json:"address"`
}

// BalanceStatus is the answer of GET /balance/{name}/status: what
// onionbalance says through its status socket.
type BalanceStatus struct {
	Balance
	// Onionbalance is its process: running, pid, restarts, last exit.
	Process string `json:"process" yaml:"process"`
	// Published is when onionbalance last tried to publish the master's
	// descriptors (the first and second of the two time periods), nil if
	// never.
	PublishedFirst  *time.Time `json:"published_first,omitempty" yaml:"published_first,omitempty"`
	PublishedSecond *time.Time `json:"published_second,omitempty" yaml:"published_second,omitempty"`
	// Members are the instances as onionbalance sees them, in the order
	// of Instances.
	Members []BalanceMember `json:"members" yaml:"members"`
	// Error says why the status is not known ("onionbalance is starting",
	// ...), "" when it is.
	Error string `json:"error,omitempty" yaml:"error,omitempty"`
}

// BalanceMember is one instance in a BalanceStatus.
type BalanceMember struct {
	Address string `json:"address" yaml:"address"`
	// Fetched is when its descriptor was last received, nil if never.
	Fetched *time.Time `json:"fetched,omitempty" yaml:"fetched,omitempty"`
	// IntroPoints is how many introduction points its descriptor has.
	IntroPoints int `json:"intro_points" yaml:"intro_points"`
	// IntroSetModified is when its set of introduction points last
	// changed.
	IntroSetModified *time.Time `json:"intro_set_modified,omitempty" yaml:"intro_set_modified,omitempty"`
	// Reachable says whether it answered a rendezvous through the
	// front tor just now.
	Reachable bool `json:"reachable" yaml:"reachable"`
	// State is "up" (a descriptor fresher than onionbalance's limit: its
	// introduction points are in the master's descriptor) or "missing"
	// (none, or too old: it is left out; or it does not answer).
	State string `json:"state" yaml:"state"`
}

// BalanceList is the answer of GET /balance.
type BalanceList struct {
	Balances []Balance `json:"balances" yaml:"balances"`
}

// Package apitype holds the types that travel over the daemon's local API, as
// JSON, between the daemon and its clients (the CLI, the GUI). It imports
// nothing of the daemon, so that clients never depend on daemon internals.
package apitype

import "time"

// Version is the API's path prefix. Every handler lives under it.
const Version = "/api/v1"

// Host is the Host header every client sends. The daemon refuses any other,
// so that a web page cannot reach the API through DNS rebinding.
const Host = "tails-server.local"

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error" yaml:"error"`
	// Hint, when set, says how to fix the problem.
	Hint string `json:"hint,omitempty" yaml:"hint,omitempty"`
}

// Daemon describes the running daemon and its connection to Tor.
type Daemon struct {
	Version string    `json:"version" yaml:"version"`
	Network string    `json:"network" yaml:"network"`
	Socket  string    `json:"socket" yaml:"socket"`
	PID     int       `json:"pid" yaml:"pid"`
	Started time.Time `json:"started" yaml:"started"`
	Tor     Tor       `json:"tor" yaml:"tor"`
	// MoreTors are the daemon's further tors: it launches one more for
	// every OnionsPerTor onions (10 by default) beyond the first tor's.
	MoreTors []Tor `json:"more_tors,omitempty" yaml:"more_tors,omitempty"`
	// Checker is the client-only tor the self-checks go through, the only
	// one holding the daemon's own client credentials.
	Checker *Tor `json:"checker,omitempty" yaml:"checker,omitempty"`
	// CatalogErrors lists the service descriptions refused at load.
	CatalogErrors []string `json:"catalog_errors,omitempty" yaml:"catalog_errors,omitempty"`
}

// Tor describes the tor the daemon uses.
type Tor struct {
	// State is one of "starting", "bootstrapping", "ready", "down".
	State   string `json:"state" yaml:"state"`
	Version string `json:"version,omitempty" yaml:"version,omitempty"`
	// Bootstrap is the last bootstrap percentage tor reported (0–100).
	Bootstrap int `json:"bootstrap" yaml:"bootstrap"`
	// Summary is tor's last bootstrap summary, or why tor is down.
	Summary   string `json:"summary,omitempty" yaml:"summary,omitempty"`
	SocksAddr string `json:"socks_addr,omitempty" yaml:"socks_addr,omitempty"`
	// PID is the process id of the daemon's own tor (0 in system mode).
	PID int `json:"pid,omitempty" yaml:"pid,omitempty"`
	// Restarts counts how often the daemon restarted its own tor.
	Restarts int `json:"restarts" yaml:"restarts"`
}

// Service states, in the order a service goes through them when enabled.
const (
	StateDisabled  = "disabled"      // not running, no onion
	StateStarting  = "starting"      // backend starting, onion not yet added
	StateAddressed = "address-ready" // ADD_ONION answered: the address exists
	StatePublished = "published"     // a descriptor upload succeeded
	StateReachable = "reachable"     // the self-check fetched through the onion
	StateFailing   = "unreachable"   // the last self-check failed; repairing
	StateFailed    = "failed"        // a step failed; Error says which
	// StateScheduled: enabled before its start-at time; nothing runs
	// and no onion is up until then (StartsAt).
	StateScheduled = "scheduled"
)

// GroupProtection is Option.Group of the protection options.
const GroupProtection = "protection"

// Service is what `info` and `status` show of a hosted service.
type Service struct {
	Name        string `json:"name" yaml:"name"`
	Title       string `json:"title" yaml:"title"`
	Description string `json:"description" yaml:"description"`
	Enabled     bool   `json:"enabled" yaml:"enabled"`
	// Installed is true when the service has everything it needs on this
	// machine: a built-in backend always, a packaged one when dpkg has
	// every package of its description. Enabling an installed service
	// runs no apt-get.
	Installed bool   `json:"installed" yaml:"installed"`
	State     string `json:"state" yaml:"state"`
	// Reachable is true once the daemon fetched the service through its
	// own onion, and until a later check fails.
	Reachable bool `json:"reachable" yaml:"reachable"`
	// OnionAddress is the full address with ".onion"; empty until the
	// service was enabled once.
	OnionAddress string `json:"onion_address,omitempty" yaml:"onion_address,omitempty"`
	OnionPort    int    `json:"onion_port" yaml:"onion_port"`
	ClientAuth   bool   `json:"client_auth" yaml:"client_auth"`
	Clients      int    `json:"clients" yaml:"clients"`
	Error        string `json:"error,omitempty" yaml:"error,omitempty"`
	// Warnings the user must see (for example: client auth is off).
	Warnings []string `json:"warnings,omitempty" yaml:"warnings,omitempty"`
	// Persistent is true when the service's files are in the persistent
	// root.
	Persistent bool `json:"persistent" yaml:"persistent"`
	// Progress is the current step while the service starts.
	Progress string `json:"progress,omitempty" yaml:"progress,omitempty"`
	// StartsAt, while the service is scheduled, is when it publishes
	// (its start-at option), UTC.
	StartsAt *time.Time `json:"starts_at,omitempty" yaml:"starts_at,omitempty"`
	// StopsAt, while the service is enabled and published with a
	// stop-after option, is when its onion is withdrawn and it is
	// disabled, UTC: the time left is StopsAt minus now.
	StopsAt *time.Time `json:"stops_at,omitempty" yaml:"stops_at,omitempty"`
	Options []Option   `json:"options,omitempty" yaml:"options,omitempty"`
	// Content are the service's folders of the host's own content (files
	// offered, files received), which the files endpoints work on.
	Content []ContentFolder `json:"content,omitempty" yaml:"content,omitempty"`
	// Transfers are the last downloads and uploads of a service that
	// records them (fileshare), newest first.
	Transfers []Transfer `json:"transfers,omitempty" yaml:"transfers,omitempty"`
	// Health is the record of the service's self-checks.
	Health *Health `json:"health,omitempty" yaml:"health,omitempty"`

	Details *ServiceDetails `json:"details,omitempty" yaml:"details,omitempty"`
}

// ServiceDetails is the part of Service shown by `info --details`.
type ServiceDetails struct {
	LocalAddress      string     `json:"local_address,omitempty" yaml:"local_address,omitempty"`
	DataDir           string     `json:"data_dir" yaml:"data_dir"`
	KeyFile           string     `json:"key_file" yaml:"key_file"`
	DescriptorUploads int        `json:"descriptor_uploads" yaml:"descriptor_uploads"`
	LastUpload        *time.Time `json:"last_upload,omitempty" yaml:"last_upload,omitempty"`
	LastCheck         *Check     `json:"last_check,omitempty" yaml:"last_check,omitempty"`
	Republished       int        `json:"republished" yaml:"republished"`
	// Tor is which of the daemon's tors carries the onion: 1 the first
	// (see Daemon.MoreTors), 0 none.
	Tor     int            `json:"tor,omitempty" yaml:"tor,omitempty"`
	Backend *BackendStatus `json:"backend,omitempty" yaml:"backend,omitempty"`
}

// BackendStatus describes a backend process under the daemon's supervisor.
type BackendStatus struct {
	Running  bool   `json:"running" yaml:"running"`
	PID      int    `json:"pid,omitempty" yaml:"pid,omitempty"`
	Restarts int    `json:"restarts" yaml:"restarts"`
	LastExit string `json:"last_exit,omitempty" yaml:"last_exit,omitempty"`
}

// Option is one setting of a service, with its current value.
type Option struct {
	Name        string `json:"name" yaml:"name"`
	Title       string `json:"title" yaml:"title"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Type is bool, int, port, string, text, enum or secret.
	Type string `json:"type" yaml:"type"`
	// Value is the current value; a secret's is "********" unless asked
	// for.
	Value   string   `json:"value" yaml:"value"`
	Default string   `json:"default,omitempty" yaml:"default,omitempty"`
	Choices []string `json:"choices,omitempty" yaml:"choices,omitempty"`
	Min     *int     `json:"min,omitempty" yaml:"min,omitempty"`
	Max     *int     `json:"max,omitempty" yaml:"max,omitempty"`
	// Common is true for the options every service has.
	Common       bool `json:"common" yaml:"common"`
	ShowInStatus bool `json:"show_in_status" yaml:"show_in_status"`
	// Group is the heading of a common option: GroupProtection for
	// tor's defenses against floods (pow, pow-queue-rate,
	// pow-queue-burst, max-streams), "" for access and storage.
	Group string `json:"group,omitempty" yaml:"group,omitempty"`
	// Warnings are the service's warnings that setting this option would
	// lift (e.g. "no one can log in yet: set authorized-keys ..."); they
	// are among the service's Warnings too.
	Warnings []string `json:"warnings,omitempty" yaml:"warnings,omitempty"`
}

// SetOptionRequest sets an option.
type SetOptionRequest struct {
	Value string `json:"value"`
}

// SetOptionResult is the option after the change, with the warnings the
// change calls for.
type SetOptionResult struct {
	Option   Option   `json:"option" yaml:"option"`
	Warnings []string `json:"warnings,omitempty" yaml:"warnings,omitempty"`
}

// Check is the result of one reachability self-check.
type Check struct {
	Time     time.Time     `json:"time" yaml:"time"`
	OK       bool          `json:"ok" yaml:"ok"`
	Duration time.Duration `json:"duration_ns" yaml:"duration"`
	Error    string        `json:"error,omitempty" yaml:"error,omitempty"`
	// Step is where a failed check failed: "checker" (the daemon's
	// checker tor was not ready), "connect" (tor could not reach the
	// onion), "protocol" (the service did not answer as it should) or
	// "other".
	Step string `json:"step,omitempty" yaml:"step,omitempty"`
}

// Health sums up a service's record of self-checks (kept 7 days, at most
// 10080 checks, in the service's root).
type Health struct {
	// Uptime is the share of passed checks over the last 1 h, 24 h and
	// 7 d, in that order.
	Uptime []Uptime `json:"uptime" yaml:"uptime"`
	// LastFailures are the last failed checks (at most 10), newest
	// first.
	LastFailures []Check `json:"last_failures,omitempty" yaml:"last_failures,omitempty"`
	// Chart is the last 24 h in 48 slices of 30 minutes, oldest first;
	// only in the answer about one service.
	Chart []HealthSlice `json:"chart,omitempty" yaml:"chart,omitempty"`
}

// Uptime is the share of passed self-checks over a window.
type Uptime struct {
	// Window is "1h", "24h" or "7d".
	Window string `json:"window" yaml:"window"`
	Checks int    `json:"checks" yaml:"checks"`
	Failed int    `json:"failed" yaml:"failed"`
	// Percent is the passed checks' share (0–100); absent when no check
	// ran in the window.
	Percent *float64 `json:"percent,omitempty" yaml:"percent,omitempty"`
}

// HealthSlice sums up the self-checks of one slice of time.
type HealthSlice struct {
	Start  time.Time `json:"start" yaml:"start"`
	Checks int       `json:"checks" yaml:"checks"`
	Failed int       `json:"failed" yaml:"failed"`
	// Latency is the mean latency of the passed checks.
	Latency time.Duration `json:"latency_ns" yaml:"latency"`
}

// EnableRequest asks the daemon to enable a service.
type EnableRequest struct {
	// Wait bounds how long enable waits for the service to become
	// reachable; zero means the daemon's default (120 s).
	Wait time.Duration `json:"wait_ns,omitempty"`
	// OnionKey, when set, is an existing onion key to reuse: Tor's
	// hs_ed25519_secret_key file, or "ED25519-V3:<base64>".
	OnionKey []byte `json:"onion_key,omitempty"`
}

// Client is one authorized client of a service.
type Client struct {
	Name string `json:"name" yaml:"name"`
	// PublicKey is the x25519 public key, base32, as Tor's ClientAuthV3
	// and authorized_clients files take it.
	PublicKey string    `json:"public_key" yaml:"public_key"`
	Added     time.Time `json:"added" yaml:"added"`
	// Credential is only set when asked for (`client show`): the line a
	// client's tor reads from a file in its ClientOnionAuthDir.
	Credential string `json:"credential,omitempty" yaml:"credential,omitempty"`
	// Key and CredentialFile are set with Credential: the private key
	// alone (its last field), as Tor Browser asks for it, and the name to
	// save Credential under in a ClientOnionAuthDir.
	Key            string `json:"key,omitempty" yaml:"key,omitempty"`
	CredentialFile string `json:"credential_file,omitempty" yaml:"credential_file,omitempty"`
}

// ClientRequest adds a client.
type ClientRequest struct {
	Name string `json:"name"`
}

// Share is what a client needs to connect to a service: `tails-server
// share` prints it, the GUI shows it with QR codes.
type Share struct {
	Service      string `json:"service" yaml:"service"`
	OnionAddress string `json:"onion_address" yaml:"onion_address"`
	OnionPort    int    `json:"onion_port" yaml:"onion_port"`
	// URI is the address in the form the usual client opens
	// (http://..., mumble://..., irc://...).
	URI string `json:"uri" yaml:"uri"`
	// Instructions say, briefly, how to connect with the usual client.
	Instructions string `json:"instructions,omitempty" yaml:"instructions,omitempty"`
	ClientAuth   bool   `json:"client_auth" yaml:"client_auth"`
	// The rest of the client's part is set when a client was named (and
	// is secret): Key, the private key alone, which Tor Browser asks for;
	// Credential, the line a tor reads from the file CredentialFile in its
	// ClientOnionAuthDir; each with a sentence saying what to do with it.
	Client         string `json:"client,omitempty" yaml:"client,omitempty"`
	Key            string `json:"key,omitempty" yaml:"key,omitempty"`
	KeyHelp        string `json:"key_help,omitempty" yaml:"key_help,omitempty"`
	Credential     string `json:"credential,omitempty" yaml:"credential,omitempty"`
	CredentialFile string `json:"credential_file,omitempty" yaml:"credential_file,omitempty"`
	CredentialHelp string `json:"credential_help,omitempty" yaml:"credential_help,omitempty"`
	// Details are further facts the service's client needs: a server
	// password, a host key fingerprint.
	Details  []ShareDetail `json:"details,omitempty" yaml:"details,omitempty"`
	Warnings []string      `json:"warnings,omitempty" yaml:"warnings,omitempty"`
}

// ShareDetail is one labelled fact in a Share.
type ShareDetail struct {
	Label string `json:"label" yaml:"label"`
	Value string `json:"value" yaml:"value"`
	// Secret says the GUI should mask the value until asked.
	Secret bool `json:"secret,omitempty" yaml:"secret,omitempty"`
}

// Progress is one step of a long operation (enable: package install,
// backend start, onion publication), streamed to the CLI and the GUI.
type Progress struct {
	Service string `json:"service" yaml:"service"`
	Step    string `json:"step" yaml:"step"`
	// Percent is the step's completion (0–100) when known.
	Percent *float64 `json:"percent,omitempty" yaml:"percent,omitempty"`
	// State is the service's state when the step is a state change.
	State string `json:"state,omitempty" yaml:"state,omitempty"`
}

// EnableEvent is one line of a streamed enable (NDJSON): progress, then a
// final service or error.
type EnableEvent struct {
	Progress *Progress `json:"progress,omitempty"`
	Service  *Service  `json:"service,omitempty"`
	Error    *Error    `json:"error,omitempty"`
}

// Settings are the daemon's global settings, with what they mean.
type Settings struct {
	// PersistTorState keeps tor's state, and so its entry guards, across
	// reboots.
	PersistTorState bool   `json:"persist_tor_state" yaml:"persist_tor_state"`
	TorDataDir      string `json:"tor_data_dir,omitempty" yaml:"tor_data_dir,omitempty"`
	// Vanguards says what protection against guard discovery the tor in
	// use offers and whether it is on.
	Vanguards string `json:"vanguards" yaml:"vanguards"`
	// Tors is how many tors the daemon runs for its onions, one more for
	// every OnionsPerTor enabled services beyond the first tor's (0: no
	// limit, system mode).
	Tors         int `json:"tors" yaml:"tors"`
	OnionsPerTor int `json:"onions_per_tor" yaml:"onions_per_tor"`
	// Notes explain the trade-offs.
	Notes []string `json:"notes,omitempty" yaml:"notes,omitempty"`
}

// SettingRequest sets one setting.
type SettingRequest struct {
	Value string `json:"value"`
}

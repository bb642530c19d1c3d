package apitype

import "strings"

// stateSentences says each service state in words, for progress lines
// and status pages.
var stateSentences = map[string]string{
	StateDisabled:  "disabled",
	StateStarting:  "starting its server",
	StateAddressed: "onion address made; publishing it on the Tor network",
	StatePublished: "address published; checking that it is reachable through Tor",
	StateReachable: "reachable through Tor",
	StateFailing:   "not reachable at the last check; the daemon is repairing it",
	StateFailed:    "failed",
	StateScheduled: "scheduled",
}

// StateSentence says a service state in words, in lower case (a
// progress line goes on "SERVICE: "); an unknown state is returned as it
// is.
func StateSentence(state string) string {
	if s, ok := stateSentences[state]; ok {
		return s
	}
	return state
}

// Text says a progress step in words. A state change (State set, Step
// "STATE" or "STATE: reason") reads as the state's sentence, then the
// reason; any other step is already words and is returned as it is.
func (p Progress) Text() string {
	if p.State == "" {
		return p.Step
	}
	s := StateSentence(p.State)
	if why, ok := strings.CutPrefix(p.Step, p.State+": "); ok && why != "" {
		s += ": " + why
	}
	return s
}

// RemoveResult says what `remove` wiped.
type RemoveResult struct {
	Service string `json:"service" yaml:"service"`
	// OnionAddress is the address that is gone for good ("" if the
	// service had none yet).
	OnionAddress string `json:"onion_address,omitempty" yaml:"onion_address,omitempty"`
	// OnionKey is the key file deleted ("" if there was none).
	OnionKey string `json:"onion_key,omitempty" yaml:"onion_key,omitempty"`
	// Clients is how many client credentials were deleted.
	Clients int `json:"clients" yaml:"clients"`
	// Dirs are the folders deleted, with the service's configuration and
	// data.
	Dirs []string `json:"dirs,omitempty" yaml:"dirs,omitempty"`
}

// TorRestartNote says what a change of persist-tor-state costs: the
// daemon's tor restarts on its new data folder.
const TorRestartNote = "the daemon's tor restarts to move its state: connections open to the services drop, " +
	"and the services answer again once tor has bootstrapped; clients then reconnect"

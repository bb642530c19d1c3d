package catalog

// The protection options: Tor's onion-service DoS defenses, common to
// every service (see CommonOptions). The PoW ones map to ADD_ONION's
// PoWDefensesEnabled, PoWQueueRate and PoWQueueBurst (tor 0.4.9.2 or
// newer, built with its pow module); max-streams to MaxStreams with the
// MaxStreamsCloseCircuit flag.
const (
	OptPoW           = "pow"
	OptPoWQueueRate  = "pow-queue-rate"
	OptPoWQueueBurst = "pow-queue-burst"
	OptMaxStreams    = "max-streams"
)

// Defaults and limits of the protection options. The PoW defaults are
// tor's own (HiddenServicePoWQueueRate 250, HiddenServicePoWQueueBurst
// 2500, see tor(1)).
const (
	DefaultPoWQueueRate  = 250  // rendezvous requests dispatched per second; 0: no limit
	DefaultPoWQueueBurst = 2500 // requests dispatched at once at most
	MaxPoWQueueRate      = 100000
	MaxPoWQueueBurst     = 1000000
	// DefaultMaxStreams is max-streams for a service whose description
	// declares no max_streams: the open streams one rendezvous circuit
	// (one visitor) may have at once; the circuit is closed over it.
	DefaultMaxStreams = 32
	MaxMaxStreams     = 65535 // tor's limit; 0 is no limit
)

func ptrInt(n int) *int { return &n }

// protectionOptions are the protection options, in display order, with
// maxStreams as max-streams' default.
func protectionOptions(maxStreams int) []Option {
	return []Option{
		{Name: OptPoW, Title: "Proof of work", Type: TypeBool, Default: true, ShowInStatus: true,
			Description: "Under a flood of connection requests, visitors solve a small puzzle first: it costs them a few seconds only while the service is attacked, and keeps it reachable for those who wait."},
		{Name: OptPoWQueueRate, Title: "Proof of work: requests per second", Type: TypeInt, Default: DefaultPoWQueueRate,
			Min: ptrInt(0), Max: ptrInt(MaxPoWQueueRate),
			Description: "Connection requests tor answers per second, best puzzles first (0: no limit); lower spares a slow computer under attack but makes every visitor wait longer."},
		{Name: OptPoWQueueBurst, Title: "Proof of work: burst", Type: TypeInt, Default: DefaultPoWQueueBurst,
			Min: ptrInt(1), Max: ptrInt(MaxPoWQueueBurst),
			Description: "Connection requests tor answers at once at most; higher lets a group arrive together, lower bounds the work a flood causes."},
		{Name: OptMaxStreams, Title: "Streams per visitor", Type: TypeInt, Default: maxStreams,
			Min: ptrInt(0), Max: ptrInt(MaxMaxStreams), ShowInStatus: true,
			Description: "Open connections one visitor's circuit may have (0: no limit); over it tor closes that circuit, which stops one client from exhausting the service but cuts a visitor who needs more."},
	}
}

// Common returns CommonOptions with the service's own max-streams default
// (its description's max_streams, else DefaultMaxStreams).
func (s *Service) Common() []Option {
	opts := CommonOptions()
	for i := range opts {
		if opts[i].Name == OptMaxStreams && s.MaxStreams > 0 {
			opts[i].Default = s.MaxStreams
		}
	}
	return opts
}

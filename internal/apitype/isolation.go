package apitype

import "time"

// IsolationPolicy is the daemon's stream isolation policy, with what the
// running tor exposes of it (GET /isolation/policy).
type IsolationPolicy struct {
	// Source is the policy file, or "built-in default policy".
	Source string `json:"source" yaml:"source"`
	// Offset shifts every port number of the policy.
	Offset int `json:"offset" yaml:"offset"`
	// InTorrc says whether the daemon's own tor was started with the
	// policy's ports (testnet and public modes).
	InTorrc bool            `json:"in_torrc" yaml:"in_torrc"`
	Ports   []IsolationPort `json:"ports" yaml:"ports"`
	Apps    []IsolationApp  `json:"apps" yaml:"apps"`
	// Confined lists the confined applications (and, from the daemon,
	// how many programs run in each namespace).
	Confined []IsolationConfined `json:"confined,omitempty" yaml:"confined,omitempty"`
	// Missing lists the policy's listeners the running tor does not
	// expose, or exposes with other isolation, one sentence each.
	Missing []string `json:"missing,omitempty" yaml:"missing,omitempty"`
	// Checked says whether the running tor was asked (false while tor is
	// not ready).
	Checked bool `json:"checked" yaml:"checked"`
}

// IsolationPort is one listener of the policy.
type IsolationPort struct {
	Name string `json:"name" yaml:"name"`
	// Type is socks, trans or dns.
	Type string `json:"type" yaml:"type"`
	// Addr is "address:port", offset applied.
	Addr string `json:"addr" yaml:"addr"`
	// Flags are the flags of the torrc line.
	Flags []string `json:"flags" yaml:"flags"`
	// Isolation lists what streams are isolated by, tor's defaults
	// included.
	Isolation   []string `json:"isolation" yaml:"isolation"`
	Apps        []string `json:"apps,omitempty" yaml:"apps,omitempty"`
	Description string   `json:"description,omitempty" yaml:"description,omitempty"`
	// Exposed is set once the running tor was asked: whether it listens
	// there.
	Exposed *bool `json:"exposed,omitempty" yaml:"exposed,omitempty"`
	// Problem says what differs in the running tor, if anything.
	Problem string `json:"problem,omitempty" yaml:"problem,omitempty"`
}

// IsolationApp is one application of the policy.
type IsolationApp struct {
	Name string `json:"name" yaml:"name"`
	// Port names the listener it uses (its own, if it has an override).
	Port        string   `json:"port" yaml:"port"`
	Addr        string   `json:"addr" yaml:"addr"`
	Flags       []string `json:"flags" yaml:"flags"`
	Isolation   []string `json:"isolation" yaml:"isolation"`
	Description string   `json:"description,omitempty" yaml:"description,omitempty"`
	// Override, when set, says why the app has a listener of its own.
	Override string `json:"override,omitempty" yaml:"override,omitempty"`
}

// IsolationAudit is what an audit saw: streams, the circuits they used,
// and every pair of streams that shared a circuit against the policy.
type IsolationAudit struct {
	Started time.Time `json:"started" yaml:"started"`
	Ended   time.Time `json:"ended" yaml:"ended"`
	// Ports sums up the streams per listener and SOCKS username.
	Ports []AuditPort `json:"ports" yaml:"ports"`
	// Circuits lists the circuits that carried application streams.
	Circuits []AuditCircuit `json:"circuits" yaml:"circuits"`
	Streams  []AuditStream  `json:"streams" yaml:"streams"`
	// Violations are the pairs of streams that shared a circuit although
	// the policy says they must not.
	Violations []AuditViolation `json:"violations" yaml:"violations"`
	// Notes say what the audit could not see (a lost control
	// connection, unmapped listeners, ...).
	Notes []string `json:"notes,omitempty" yaml:"notes,omitempty"`
	// Confined lists the policy's confined applications: namespace,
	// listener, the one address their streams may come from.
	Confined []IsolationConfined `json:"confined,omitempty" yaml:"confined,omitempty"`
	// Foreign lists the streams on a confined application's listeners
	// that came from anywhere but its namespace.
	Foreign []AuditForeign `json:"foreign,omitempty" yaml:"foreign,omitempty"`
}

// AuditPort sums up one listener.
type AuditPort struct {
	// Port is the policy's name of the listener, or its address when the
	// policy does not know it.
	Port string   `json:"port" yaml:"port"`
	Addr string   `json:"addr,omitempty" yaml:"addr,omitempty"`
	Apps []string `json:"apps,omitempty" yaml:"apps,omitempty"`
	// Isolation is what the policy says this listener isolates by.
	Isolation []string `json:"isolation" yaml:"isolation"`
	// TorIsolation is what tor says it isolates by (ISO_FIELDS).
	TorIsolation []string    `json:"tor_isolation,omitempty" yaml:"tor_isolation,omitempty"`
	Streams      int         `json:"streams" yaml:"streams"`
	Circuits     []string    `json:"circuits" yaml:"circuits"`
	Users        []AuditUser `json:"users,omitempty" yaml:"users,omitempty"`
}

// AuditUser sums up the streams of one SOCKS username on a listener.
type AuditUser struct {
	Username string   `json:"username" yaml:"username"`
	Streams  int      `json:"streams" yaml:"streams"`
	Circuits []string `json:"circuits" yaml:"circuits"`
}

// AuditStream is one application stream.
type AuditStream struct {
	ID   string `json:"id" yaml:"id"`
	Port string `json:"port" yaml:"port"`
	// Target is the destination the application asked for, "host:port".
	Target   string `json:"target" yaml:"target"`
	Username string `json:"username,omitempty" yaml:"username,omitempty"`
	Source   string `json:"source,omitempty" yaml:"source,omitempty"`
	Protocol string `json:"protocol,omitempty" yaml:"protocol,omitempty"`
	// Circuits are the circuits it was attached to (conflux legs are
	// named by their set: "conflux:ID").
	Circuits []string  `json:"circuits" yaml:"circuits"`
	Status   string    `json:"status" yaml:"status"`
	Time     time.Time `json:"time" yaml:"time"`
}

// AuditCircuit is a circuit and the application streams it carried.
type AuditCircuit struct {
	ID        string   `json:"id" yaml:"id"`
	Streams   []string `json:"streams" yaml:"streams"`
	Ports     []string `json:"ports" yaml:"ports"`
	Usernames []string `json:"usernames,omitempty" yaml:"usernames,omitempty"`
	Targets   []string `json:"targets" yaml:"targets"`
}

// AuditViolation is a pair of streams that shared a circuit against the
// policy. First was attached before Second.
type AuditViolation struct {
	Circuit string `json:"circuit" yaml:"circuit"`
	First   string `json:"first" yaml:"first"`
	Second  string `json:"second" yaml:"second"`
	// Reason says which isolation rule the pair breaks.
	Reason string `json:"reason" yaml:"reason"`
}

// IsolationAuditEvent is one line of a streamed audit (NDJSON): a stream
// attached to a circuit, a violation, a note, or, last, the report.
type IsolationAuditEvent struct {
	Time      time.Time       `json:"time" yaml:"time"`
	Stream    *AuditStream    `json:"stream,omitempty" yaml:"stream,omitempty"`
	Violation *AuditViolation `json:"violation,omitempty" yaml:"violation,omitempty"`
	Note      string          `json:"note,omitempty" yaml:"note,omitempty"`
	// Foreign is a stream on a confined application's listener that
	// came from outside its namespace.
	Foreign *AuditForeign   `json:"foreign,omitempty" yaml:"foreign,omitempty"`
	Report  *IsolationAudit `json:"report,omitempty" yaml:"report,omitempty"`
	Error   *Error          `json:"error,omitempty" yaml:"error,omitempty"`
}

package apitype

// ConfineRun asks the daemon to run a command confined in its
// application's network namespace, as the caller (POST
// /isolation/run). On success the daemon answers 200 and takes the
// connection over: the client sends its stdin, stdout and stderr as
// three descriptors (SCM_RIGHTS, with one byte of data), then may send
// ConfineSignal lines; the daemon sends ConfineEvent lines.
type ConfineRun struct {
	App string `json:"app"`
	// Transparent redirects every TCP connection to the app's TransPort
	// and DNS to its DNSPort.
	Transparent bool `json:"transparent,omitempty"`
	// IsolateKey is a SOCKS username of the command's own (see
	// `isolation run --isolate-key`).
	IsolateKey string `json:"isolate_key,omitempty"`
	// Torsocks runs the command under torsocks.
	Torsocks bool `json:"torsocks,omitempty"`
	// Command is the program and its arguments (looked up in the
	// caller's PATH, inside).
	Command []string `json:"command"`
	// Env is the caller's environment; proxy and TORSOCKS_ variables
	// are replaced.
	Env []string `json:"env"`
	// Dir is the caller's working directory, entered as the caller.
	Dir string `json:"dir,omitempty"`
}

// ConfineSignal is a signal the client forwards to the confined command.
type ConfineSignal struct {
	Signal int `json:"signal"`
}

// ConfineEvent is one line the daemon sends about a confined command:
// Started once it runs, then Exit (or Error).
type ConfineEvent struct {
	Started *ConfineStarted `json:"started,omitempty"`
	// Exit is the command's exit status (128+N when killed by signal N).
	Exit  *int   `json:"exit,omitempty"`
	Error *Error `json:"error,omitempty"`
}

// ConfineStarted says where the command runs.
type ConfineStarted struct {
	Namespace string `json:"namespace"`
	// SocksAddr is its SOCKS port on the host side of the veth.
	SocksAddr string `json:"socks_addr"`
	// Addr is the namespace's own address.
	Addr        string `json:"addr"`
	Transparent bool   `json:"transparent"`
	PID         int    `json:"pid"`
	UID         int    `json:"uid"`
}

// IsolationConfined is a confined application of the policy, as the
// audit and the GUI show it.
type IsolationConfined struct {
	App       string `json:"app" yaml:"app"`
	Namespace string `json:"namespace" yaml:"namespace"`
	// Port names its SOCKS listener on the host side of its veth, Addr
	// that listener's address; NSAddr is the namespace's address (the
	// only source its streams may come from).
	Port   string `json:"port" yaml:"port"`
	Addr   string `json:"addr" yaml:"addr"`
	NSAddr string `json:"ns_addr" yaml:"ns_addr"`
	// Programs counts the confined programs running (daemon only).
	Programs int `json:"programs" yaml:"programs"`
}

// AuditForeign is a stream on a confined application's listener that
// did not come from its namespace.
type AuditForeign struct {
	Stream string `json:"stream" yaml:"stream"`
	Port   string `json:"port" yaml:"port"`
	App    string `json:"app" yaml:"app"`
	Source string `json:"source" yaml:"source"`
	// Expected is the namespace's address.
	Expected string `json:"expected" yaml:"expected"`
}

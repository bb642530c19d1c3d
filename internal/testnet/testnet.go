// Package testnet runs a private Tor network on 127.0.0.1 for tests, the
// demo and `tails-server testnet up|down|env`: three directory authorities,
// four relays (one of them an exit that only reaches 127.0.0.0/8) and a
// client tor with a SocksPort and a ControlPort. Every tor runs with
// TestingTorNetwork 1 and the network's DirAuthority lines, so none of them
// can reach the public Tor network.
//
// Up builds the network in a directory and returns once the client has
// bootstrapped and a real exit stream works (13–25 s here, 17 s typical:
// about 2 s of authority keys, the first consensus 9 s after launch, then
// the client's descriptor fetches, which sometimes back off for several
// seconds while the relays' caches fill); the tors run in
// their own sessions and outlive the caller, until Down stops them. Load
// reads the description Up leaves in DIR/env.yaml, and Env.StartTor adds an
// extra tor (a second client, an onion service host) that joins the network;
// Env.StartClient adds one that outlives its caller, the demo's client, to
// which Client.AddCredential gives onion services' credentials.
//
// Layout of DIR (created 0700):
//
//	env.yaml              the Env, as Load reads it
//	join.torrc            lines with which another tor joins the network
//	<node>/torrc          for node in auth1 auth2 auth3 relay1 relay2 relay3 exit client
//	<node>/data/          its DataDirectory (authority keys in data/keys)
//	<node>/notice.log     its log; stdout.log holds what it printed before
//	<node>/tor.pid        its pid
//	extra/<name>/         the same for each tor started by Env.StartTor or
//	                      Env.StartClient (whose auth/ is its ClientOnionAuthDir)
//
// With Options.BasePort B, node i of the list above (auth1 is 0, client
// is 7) uses B+10i as ORPort, B+10i+1 as DirPort (authorities), B+10i+2 as
// ControlPort and B+10i+3 as SocksPort (client): the network takes ports B
// to B+73. With BasePort 0 every port is picked free.
//
// The options follow what was measured to work on this network
// (shared/PRIVATE-TOR-NETWORK.md): 10-second voting intervals (Options.
// VotingInterval: up to 60 s) started at
// launch with TestingV3AuthVotingStartOffset, AssumeReachable relays, an
// exit policy of "accept 127.0.0.0/8:*, reject *:*", UseMicrodescriptors 0
// on clients (a loopback-only exit has the summary "reject 1-65535"), GeoIP
// files /dev/null and MaxConsensusAgeForDiffs 1 minute. Two additions: the
// client starts just after the first consensus is published (started
// earlier, it meets 404s and backs off), and relays fetch directory
// information early (FetchDirInfoEarly, FetchDirInfoExtraEarly).
//
// YAML is read and written with go.yaml.in/yaml/v3, the maintained fork of
// gopkg.in/yaml.v3.
package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"tails-server/internal/socks"
)

// DefaultTimeout is how long Up waits for a usable network by default.
const DefaultTimeout = 180 * time.Second

// The authorities' voting interval: DefaultVotingInterval unless
// Options.VotingInterval says otherwise, within the bounds below.
const (
	DefaultVotingInterval = 10 * time.Second
	MinVotingInterval     = 10 * time.Second
	MaxVotingInterval     = 60 * time.Second
)

// Roles of the nodes of the network.
const (
	RoleAuthority = "authority"
	RoleRelay     = "relay"
	RoleExit      = "exit"
	RoleClient    = "client"
)

// nodeLayout is the network, in port-layout order.
var nodeLayout = []struct{ name, role string }{
	{"auth1", RoleAuthority}, {"auth2", RoleAuthority}, {"auth3", RoleAuthority},
	{"relay1", RoleRelay}, {"relay2", RoleRelay}, {"relay3", RoleRelay},
	{"exit", RoleExit}, {"client", RoleClient},
}

const (
	envFile   = "env.yaml"
	joinFile  = "join.torrc"
	extraDir  = "extra"
	portSpan  = 74 // BasePort to BasePort+73
	maxPort   = 65535
	minPort   = 1024
	dirPerm   = 0o700
	filePerm  = 0o600
	probeWait = 3 * time.Second // one exit-stream attempt
)

// Options configure Up.
type Options struct {
	// Dir is where the network lives; it is created (0700) if needed.
	// Required. Its path must not contain white space, quotes or
	// backslashes (torrc values).
	Dir string
	// BasePort, if not 0, lays the network's ports out from BasePort to
	// BasePort+73 as the package documentation describes; 0 picks free
	// ports.
	BasePort int
	// Timeout bounds the whole of Up; 0 means DefaultTimeout (180 s).
	Timeout time.Duration
	// TorBinary is the tor to run, "tor" (from PATH) by default;
	// tor-gencert is taken from the same directory, or from PATH.
	TorBinary string
	// VotingInterval is the authorities' V3AuthVotingInterval, whole
	// seconds from MinVotingInterval to MaxVotingInterval; 0 means
	// DefaultVotingInterval (10 s). Onionbalance's --is-testnet timings
	// assume 20 s.
	VotingInterval time.Duration
	// Progress, if set, receives one line per step and per new bootstrap
	// percentage of the client ("bootstrap 45% (loading_descriptors):
	// Loading relay descriptors"), as they happen.
	Progress func(line string)
}

// Env describes a running network: what Up returns and writes to
// DIR/env.yaml, and what Load reads.
type Env struct {
	// Dir is the network's directory, absolute.
	Dir string `yaml:"dir" json:"dir"`
	// SocksAddr is the client tor's SocksPort, "127.0.0.1:PORT".
	SocksAddr string `yaml:"socks_addr" json:"socks_addr"`
	// ControlAddr is the client tor's ControlPort, "127.0.0.1:PORT".
	ControlAddr string `yaml:"control_addr" json:"control_addr"`
	// ControlCookie is the path of the client tor's control auth cookie.
	ControlCookie string `yaml:"control_cookie" json:"control_cookie"`
	// JoinTorrc holds the torrc lines with which another tor joins the
	// network: TestingTorNetwork 1, the DirAuthority lines and the client
	// options that suit it; no SocksPort, ControlPort or DataDirectory. It
	// is also in DIR/join.torrc.
	JoinTorrc string `yaml:"join_torrc" json:"join_torrc"`
	// TorBinary is the tor that runs the network; StartTor uses it too.
	TorBinary string `yaml:"tor_binary" json:"tor_binary"`
	// VotingInterval is the authorities' voting interval in seconds.
	VotingInterval int `yaml:"voting_interval,omitempty" json:"voting_interval,omitempty"`
	// Nodes are the network's tors.
	Nodes []Node `yaml:"nodes" json:"nodes"`
}

// Node is one tor of the network.
type Node struct {
	Name        string `yaml:"name" json:"name"`
	Role        string `yaml:"role" json:"role"` // RoleAuthority, RoleRelay, RoleExit or RoleClient
	PID         int    `yaml:"pid" json:"pid"`
	Dir         string `yaml:"dir" json:"dir"`           // torrc, notice.log, tor.pid
	DataDir     string `yaml:"data_dir" json:"data_dir"` // its DataDirectory
	ORPort      int    `yaml:"or_port,omitempty" json:"or_port,omitempty"`
	DirPort     int    `yaml:"dir_port,omitempty" json:"dir_port,omitempty"`
	ControlPort int    `yaml:"control_port" json:"control_port"`
	SocksPort   int    `yaml:"socks_port,omitempty" json:"socks_port,omitempty"`
	// Fingerprint is the relay identity (RSA) fingerprint, for authorities.
	Fingerprint string `yaml:"fingerprint,omitempty" json:"fingerprint,omitempty"`
	// V3Ident is the authority's v3 identity fingerprint.
	V3Ident string `yaml:"v3ident,omitempty" json:"v3ident,omitempty"`
}

// YAML returns the Env as YAML, as in DIR/env.yaml.
func (e *Env) YAML() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("testnet: encoding env: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("testnet: encoding env: %w", err)
	}
	return b.Bytes(), nil
}

// Load reads DIR/env.yaml, written by Up. Unknown keys are errors.
func Load(dir string) (*Env, error) {
	path := filepath.Join(dir, envFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("testnet: no network in %s (no %s)", dir, envFile)
	}
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var e Env
	if err := dec.Decode(&e); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("testnet: malformed %s: %v", path, oneLine(err.Error()))
	}
	if e.Dir == "" || e.SocksAddr == "" || e.JoinTorrc == "" {
		return nil, fmt.Errorf("testnet: malformed %s: dir, socks_addr or join_torrc missing", path)
	}
	return &e, nil
}

// Up builds and starts the network in opts.Dir and returns once the client
// has bootstrapped and a stream through the exit to a local listener
// works. On failure (timeout, a tor exiting, ctx cancelled) it stops every
// tor it started and returns an error that names the failing tor and
// quotes the end of its log (on timeout: the client's). Up refuses a Dir
// in which a network runs; it replaces the node directories of a stopped
// one.
func Up(ctx context.Context, opts Options) (*Env, error) {
	if opts.Dir == "" {
		return nil, errors.New("testnet: no directory given")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.TorBinary == "" {
		opts.TorBinary = "tor"
	}
	if opts.VotingInterval == 0 {
		opts.VotingInterval = DefaultVotingInterval
	}
	if opts.VotingInterval < MinVotingInterval || opts.VotingInterval > MaxVotingInterval || opts.VotingInterval%time.Second != 0 {
		return nil, fmt.Errorf("testnet: voting interval %s: use whole seconds from %s to %s", opts.VotingInterval, MinVotingInterval, MaxVotingInterval)
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(string) {}
	}
	if opts.BasePort != 0 && (opts.BasePort < minPort || opts.BasePort+portSpan-1 > maxPort) {
		return nil, fmt.Errorf("testnet: base port %d out of range %d-%d", opts.BasePort, minPort, maxPort-portSpan+1)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	if strings.ContainsAny(dir, " \t\n\r\"'\\#") {
		return nil, fmt.Errorf("testnet: directory %q: its path must not contain white space, quotes, # or backslashes", dir)
	}
	torBin, err := exec.LookPath(opts.TorBinary)
	if err == nil {
		torBin, err = filepath.Abs(torBin)
	}
	if err != nil {
		return nil, fmt.Errorf("testnet: tor binary: %w", err)
	}
	gencert, err := exec.LookPath(filepath.Join(filepath.Dir(torBin), "tor-gencert"))
	if err != nil {
		if gencert, err = exec.LookPath("tor-gencert"); err != nil {
			return nil, fmt.Errorf("testnet: tor-gencert not found beside %s nor in PATH", torBin)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	interval := int64(opts.VotingInterval / time.Second)
	env := &Env{Dir: dir, TorBinary: torBin, VotingInterval: int(interval)}
	ports, err := layPorts(opts.BasePort)
	if err != nil {
		return nil, err
	}
	for i, l := range nodeLayout {
		n := Node{Name: l.name, Role: l.role, Dir: filepath.Join(dir, l.name)}
		n.DataDir = filepath.Join(n.Dir, "data")
		p := ports[i]
		n.ControlPort = p[2]
		switch l.role {
		case RoleAuthority:
			n.ORPort, n.DirPort = p[0], p[1]
		case RoleRelay, RoleExit:
			n.ORPort = p[0]
		case RoleClient:
			n.SocksPort = p[3]
		}
		if err := os.MkdirAll(n.DataDir, dirPerm); err != nil {
			return nil, fmt.Errorf("testnet: %w", err)
		}
		env.Nodes = append(env.Nodes, n)
	}
	client := &env.Nodes[len(env.Nodes)-1]
	env.SocksAddr = fmt.Sprintf("127.0.0.1:%d", client.SocksPort)
	env.ControlAddr = fmt.Sprintf("127.0.0.1:%d", client.ControlPort)
	env.ControlCookie = filepath.Join(client.DataDir, "control_auth_cookie")

	progress("generating authority keys")
	if err := genAuthorityKeys(ctx, gencert, torBin, env.Nodes[:3]); err != nil {
		return nil, err
	}
	env.JoinTorrc = joinTorrc(env)
	if err := writeFileAtomic(filepath.Join(dir, joinFile), []byte(env.JoinTorrc), filePerm); err != nil {
		return nil, err
	}
	// With the voting schedule starting at offset (mod the interval),
	// the first consensus is valid after firstValid, 9 s from now (votes
	// 4 s before): time enough for the relays to upload their
	// descriptors.
	now := time.Now()
	offset := (now.Unix() + 9) % interval
	firstValid := time.Unix(now.Unix()+9, 0)
	for i := range env.Nodes {
		n := &env.Nodes[i]
		if err := writeFileAtomic(filepath.Join(n.Dir, torrcFile), []byte(nodeTorrc(env, n, offset)), filePerm); err != nil {
			return nil, err
		}
	}

	progress(fmt.Sprintf("starting %d authorities and relays in %s", len(env.Nodes)-1, dir))
	var procs []*proc
	fail := func(err error) (*Env, error) {
		stopProcs(procs)
		return nil, err
	}
	for i := range env.Nodes {
		n := &env.Nodes[i]
		if n.Role == RoleClient {
			// A client started before the first consensus exists meets
			// 404s and backs off, adding seconds: start it just after.
			progress(fmt.Sprintf("starting the client when the first consensus is out (%s)", firstValid.Format("15:04:05")))
			if err := waitUntil(ctx, firstValid.Add(300*time.Millisecond), procs); err != nil {
				return fail(err)
			}
		}
		p, err := startTor(torBin, n.Name, n.Dir, true)
		if err != nil {
			return fail(err)
		}
		n.PID = p.cmd.Process.Pid
		procs = append(procs, p)
	}
	if err := waitUsable(ctx, opts.Timeout, env, procs, progress); err != nil {
		return fail(err)
	}
	b, err := env.YAML()
	if err == nil {
		err = writeFileAtomic(filepath.Join(dir, envFile), b, filePerm)
	}
	if err != nil {
		return fail(err)
	}
	return env, nil
}

// prepareDir creates dir, refuses it if a network runs there, and clears
// what a previous network left.
func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	if err := os.Chmod(dir, dirPerm); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	if live := liveTors(dir); len(live) > 0 {
		return fmt.Errorf("testnet: a network is already running in %s (tor %s, pid %d): stop it first", dir, live[0].name, live[0].pid)
	}
	for _, l := range nodeLayout {
		if err := os.RemoveAll(filepath.Join(dir, l.name)); err != nil {
			return fmt.Errorf("testnet: %w", err)
		}
	}
	for _, name := range []string{extraDir, envFile, joinFile} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("testnet: %w", err)
		}
	}
	return nil
}

// layPorts returns each node's [ORPort, DirPort, ControlPort, SocksPort].
func layPorts(base int) ([][4]int, error) {
	out := make([][4]int, len(nodeLayout))
	if base != 0 {
		for i := range out {
			for j := range out[i] {
				out[i][j] = base + 10*i + j
			}
		}
		return out, nil
	}
	free, err := freePorts(4 * len(nodeLayout))
	if err != nil {
		return nil, err
	}
	for i := range out {
		copy(out[i][:], free[4*i:])
	}
	return out, nil
}

var certFingerprintRE = regexp.MustCompile(`(?m)^fingerprint ([0-9A-F]{40})\s*$`)

// genAuthorityKeys creates, in parallel, each authority's v3 keys with
// tor-gencert and its relay identity with tor --list-fingerprint, and
// records both fingerprints.
func genAuthorityKeys(ctx context.Context, gencert, torBin string, auths []Node) error {
	errs := make([]error, len(auths))
	var wg sync.WaitGroup
	for i := range auths {
		wg.Add(1)
		go func(n *Node) {
			defer wg.Done()
			errs[i] = genKeys(ctx, gencert, torBin, n)
		}(&auths[i])
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("testnet: generating authority keys: %w", context.Cause(ctx))
	}
	return errors.Join(errs...)
}

func genKeys(ctx context.Context, gencert, torBin string, n *Node) error {
	keys := filepath.Join(n.DataDir, "keys")
	if err := os.MkdirAll(keys, dirPerm); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	cert := filepath.Join(keys, "authority_certificate")
	cmd := exec.CommandContext(ctx, gencert, "--create-identity-key", "--passphrase-fd", "0",
		"-m", "12", "-a", fmt.Sprintf("127.0.0.1:%d", n.DirPort),
		"-i", filepath.Join(keys, "authority_identity_key"),
		"-s", filepath.Join(keys, "authority_signing_key"),
		"-c", cert)
	cmd.Stdin = strings.NewReader("\n") // empty passphrase
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testnet: tor-gencert for %s: %v%s", n.Name, err, quoteOutput(out))
	}
	b, err := os.ReadFile(cert)
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	m := certFingerprintRE.FindSubmatch(b)
	if m == nil {
		return fmt.Errorf("testnet: no fingerprint in %s", cert)
	}
	n.V3Ident = string(m[1])

	defaults, err := emptyDefaults(n.Dir)
	if err != nil {
		return err
	}
	cmd = exec.CommandContext(ctx, torBin, "--list-fingerprint", "-f", defaults, "--defaults-torrc", defaults,
		"--DisableNetwork", "1", "--DataDirectory", n.DataDir, "--ORPort", strconv.Itoa(n.ORPort),
		"--Nickname", n.Name, "--GeoIPFile", os.DevNull, "--GeoIPv6File", os.DevNull)
	cmd.Dir = n.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		if err := os.WriteFile(filepath.Join(n.Dir, stdoutLog), out, filePerm); err != nil {
			return fmt.Errorf("testnet: %w", err)
		}
		return fmt.Errorf("testnet: tor --list-fingerprint for %s: %v%s", n.Name, err, quoteOutput(out))
	}
	b, err = os.ReadFile(filepath.Join(n.DataDir, "fingerprint"))
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 || len(f[1]) != 40 {
		return fmt.Errorf("testnet: malformed fingerprint file for %s", n.Name)
	}
	n.Fingerprint = f[1]
	return nil
}

// quoteOutput quotes the last lines of a program's output for an error.
func quoteOutput(out []byte) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return " (no output)"
	}
	return "; its output ends:\n    " + strings.Join(lines, "\n    ")
}

// dirAuthorityLines are the DirAuthority lines of the network.
func dirAuthorityLines(e *Env) []string {
	var lines []string
	for _, n := range e.Nodes {
		if n.Role == RoleAuthority {
			lines = append(lines, fmt.Sprintf("DirAuthority %s orport=%d v3ident=%s 127.0.0.1:%d %s",
				n.Name, n.ORPort, n.V3Ident, n.DirPort, n.Fingerprint))
		}
	}
	return lines
}

// joinTorrc is the torrc with which any tor joins the network.
func joinTorrc(e *Env) string {
	lines := []string{
		"# The private Tor network in " + e.Dir + " (tails-server testnet).",
		"# Add DataDirectory, SocksPort and ControlPort to join it as a client.",
		"TestingTorNetwork 1",
	}
	lines = append(lines, dirAuthorityLines(e)...)
	lines = append(lines,
		"UseMicrodescriptors 0", // the loopback-only exit is invisible in microdescriptors
		"PathsNeededToBuildCircuits 0.25",
		"GeoIPFile /dev/null",
		"GeoIPv6File /dev/null",
		"MaxConsensusAgeForDiffs 1 minute",
	)
	return strings.Join(lines, "\n") + "\n"
}

// nodeTorrc is the torrc of node n.
func nodeTorrc(e *Env, n *Node, votingOffset int64) string {
	interval := e.VotingInterval
	if interval == 0 {
		interval = int(DefaultVotingInterval / time.Second)
	}
	lines := []string{
		fmt.Sprintf("# %s (%s) of the private Tor network in %s; written by tails-server testnet.", n.Name, n.Role, e.Dir),
		"TestingTorNetwork 1",
		"DataDirectory " + n.DataDir,
		"RunAsDaemon 0",
		"PidFile " + filepath.Join(n.Dir, pidFile),
		"Log notice file " + filepath.Join(n.Dir, noticeLog),
		"Nickname " + n.Name,
		fmt.Sprintf("ControlPort 127.0.0.1:%d", n.ControlPort),
		"CookieAuthentication 1",
		"CookieAuthFile " + filepath.Join(n.DataDir, "control_auth_cookie"),
		"GeoIPFile /dev/null",
		"GeoIPv6File /dev/null",
		"MaxConsensusAgeForDiffs 1 minute",
	}
	lines = append(lines, dirAuthorityLines(e)...)
	if n.Role != RoleClient {
		lines = append(lines,
			"SocksPort 0",
			fmt.Sprintf("ORPort 127.0.0.1:%d", n.ORPort),
			"Address 127.0.0.1",
			"AssumeReachable 1",
			"ContactInfo tails-server-testnet@localhost",
		)
	}
	switch n.Role {
	case RoleAuthority:
		lines = append(lines,
			fmt.Sprintf("DirPort 127.0.0.1:%d", n.DirPort),
			"AuthoritativeDirectory 1",
			"V3AuthoritativeDirectory 1",
			fmt.Sprintf("V3AuthVotingInterval %d seconds", interval),
			"V3AuthVoteDelay 2 seconds",
			"V3AuthDistDelay 2 seconds",
			fmt.Sprintf("TestingV3AuthInitialVotingInterval %d seconds", interval),
			"TestingV3AuthInitialVoteDelay 2 seconds",
			"TestingV3AuthInitialDistDelay 2 seconds",
			"V3AuthNIntervalsValid 2",
			fmt.Sprintf("TestingV3AuthVotingStartOffset %d seconds", votingOffset),
			"TestingDirAuthVoteExit *",
			"TestingDirAuthVoteGuard *",
			"TestingDirAuthVoteHSDir *",
			"ExitRelay 0",
			"ExitPolicy reject *:*",
		)
	case RoleRelay:
		lines = append(lines, "FetchDirInfoEarly 1", "FetchDirInfoExtraEarly 1", "ExitRelay 0", "ExitPolicy reject *:*")
	case RoleExit:
		lines = append(lines, "FetchDirInfoEarly 1", "FetchDirInfoExtraEarly 1", "ExitRelay 1", "ExitPolicy accept 127.0.0.0/8:*", "ExitPolicy reject *:*")
	case RoleClient:
		lines = append(lines,
			fmt.Sprintf("SocksPort 127.0.0.1:%d", n.SocksPort),
			"UseMicrodescriptors 0",
			"PathsNeededToBuildCircuits 0.25",
		)
	}
	return strings.Join(lines, "\n") + "\n"
}

// waitUsable follows the client's bootstrap and then proves an exit
// stream, watching for tors that exit.
func waitUsable(ctx context.Context, timeout time.Duration, env *Env, procs []*proc, progress func(string)) error {
	client := procs[len(procs)-1]
	follow := &logFollower{path: filepath.Join(client.dir, noticeLog)}
	echo, err := startEcho()
	if err != nil {
		return err
	}
	defer echo.Close()
	target := echo.Addr().String()

	lastPct, bootstrapped := -1, false
	state := "client not bootstrapped"
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var nextProbe time.Time
	for attempt := 1; ; {
		for _, p := range procs {
			if p.exited() {
				return p.exitError()
			}
		}
		for _, line := range follow.next() {
			if pct, text, ok := bootstrapLine(line); ok && pct > lastPct {
				lastPct = pct
				progress(text)
				state = text
				bootstrapped = bootstrapped || pct == 100
			}
		}
		if bootstrapped && !time.Now().Before(nextProbe) {
			nextProbe = time.Now().Add(time.Second)
			if attempt == 1 {
				progress("testing an exit stream to " + target)
			}
			err := probe(ctx, env.SocksAddr, target)
			if err == nil {
				progress("exit stream works")
				return nil
			}
			state = fmt.Sprintf("client bootstrapped but exit stream attempt %d failed: %v", attempt, err)
			attempt++
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("testnet: network not usable within %v (%s): %w%s", timeout, state, ctx.Err(), quoteLog(client.dir))
			}
			return fmt.Errorf("testnet: up interrupted (%s): %w%s", state, ctx.Err(), quoteLog(client.dir))
		case <-tick.C:
		}
	}
}

// waitUntil waits for t, failing early if ctx ends or one of procs exits.
func waitUntil(ctx context.Context, t time.Time, procs []*proc) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(t) {
		for _, p := range procs {
			if p.exited() {
				return p.exitError()
			}
		}
		select {
		case <-ctx.Done():
			// Quote a relay's log: the client has not started yet.
			quote := quoteLog(procs[len(procs)-1].dir)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("testnet: network not usable in time (waiting for the first consensus): %w%s", ctx.Err(), quote)
			}
			return fmt.Errorf("testnet: up interrupted (waiting for the first consensus): %w%s", ctx.Err(), quote)
		case <-tick.C:
		}
	}
	return nil
}

// probe sends bytes through the client, the exit and back from target.
func probe(ctx context.Context, socksAddr, target string) error {
	ctx, cancel := context.WithTimeout(ctx, probeWait)
	defer cancel()
	conn, err := socks.Dial(ctx, socksAddr, target, nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	msg := []byte("tails-server testnet probe\n")
	if _, err := conn.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil {
		return fmt.Errorf("reading the echo: %w", err)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo garbled: %q", got)
	}
	return nil
}

// startEcho starts a TCP echo server on 127.0.0.1; closing the listener
// stops it.
func startEcho() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(time.Minute))
				io.Copy(c, c)
			}()
		}
	}()
	return ln, nil
}

// liveTor is a running tor found by its pid file.
type liveTor struct {
	name, pidFile string
	pid           int
}

// liveTors finds the tors of dir that run: those whose pid file names a
// live tor reading that node's torrc. It removes stale pid files.
func liveTors(dir string) []liveTor {
	var files []string
	for _, pat := range []string{filepath.Join(dir, "*", pidFile), filepath.Join(dir, extraDir, "*", pidFile)} {
		m, _ := filepath.Glob(pat)
		files = append(files, m...)
	}
	var out []liveTor
	for _, f := range files {
		pid, err := readPid(f)
		if err != nil {
			continue
		}
		node := filepath.Dir(f)
		if !ourTor(pid, filepath.Join(node, torrcFile)) {
			os.Remove(f)
			continue
		}
		out = append(out, liveTor{name: filepath.Base(node), pidFile: f, pid: pid})
	}
	return out
}

// Down stops the network in dir: every tor whose pid file is in a node
// directory (extra tors included) and that still is a tor reading that
// node's torrc; other processes are never signalled. It sends SIGTERM,
// then SIGKILL after 10 s, and removes DIR/env.yaml. Down on a directory
// where nothing runs, or that does not exist, does nothing.
func Down(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	live := liveTors(dir)
	for _, t := range live {
		syscall.Kill(t.pid, syscall.SIGTERM)
	}
	alive := func() []liveTor {
		var out []liveTor
		for _, t := range live {
			if ourTor(t.pid, filepath.Join(filepath.Dir(t.pidFile), torrcFile)) {
				out = append(out, t)
			}
		}
		return out
	}
	waitGone := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end) && len(alive()) > 0; {
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitGone(stopGrace)
	for _, t := range alive() {
		syscall.Kill(t.pid, syscall.SIGKILL)
	}
	waitGone(killGrace)
	var errs []error
	for _, t := range alive() {
		errs = append(errs, fmt.Errorf("testnet: tor %s (pid %d) did not exit", t.name, t.pid))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, t := range live {
		os.Remove(t.pidFile)
	}
	if err := os.Remove(filepath.Join(dir, envFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("testnet: %w", err)
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

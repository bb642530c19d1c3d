package testnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"tails-server/internal/socks"
)

// DefaultClientName is the name of the client tor `tails-server testnet
// client` starts and feeds with credentials (the demo's).
const DefaultClientName = "demo"

const (
	authDirName   = "auth"
	authFileExt   = ".auth_private"
	reloadTimeout = 30 * time.Second
)

// Client is a client tor of the network that outlives the process that
// started it (until Down stops it) and reads client-authorization
// credentials from its ClientOnionAuthDir: the demo's client, which
// `tails-server testnet client add` gives the credentials of more
// services. It lives in DIR/extra/<name>, as the tors of StartTor do.
type Client struct {
	// Name is the name given to StartClient.
	Name string `yaml:"name" json:"name"`
	// Dir holds its torrc, notice.log and tor.pid.
	Dir string `yaml:"dir" json:"dir"`
	// AuthDir is its ClientOnionAuthDir: one NAME.auth_private file per
	// credential, each holding one "ADDRESS:descriptor:x25519:KEY" line.
	AuthDir string `yaml:"client_onion_auth_dir" json:"client_onion_auth_dir"`
	// SocksAddr is its SocksPort, "127.0.0.1:PORT".
	SocksAddr string `yaml:"socks_addr" json:"socks_addr"`
	// PID is its process id; SIGHUP makes it read AuthDir again.
	PID int `yaml:"pid" json:"pid"`
}

// StartClient starts the client tor name (DIR/extra/<name>) with a
// ClientOnionAuthDir of its own, detached from this process, and returns
// once it has bootstrapped; if that client already runs, it returns it.
func (e *Env) StartClient(ctx context.Context, name string) (*Client, error) {
	if c, err := e.Client(name); err == nil {
		return c, nil
	}
	dir := filepath.Join(e.Dir, extraDir, name)
	auth := filepath.Join(dir, authDirName)
	// tor refuses a ClientOnionAuthDir that does not exist: startExtra
	// creates it once it has cleared dir.
	t, err := e.startExtra(ctx, name, []string{"ClientOnionAuthDir " + auth}, true, []string{auth})
	if err != nil {
		return nil, err
	}
	return &Client{Name: name, Dir: t.Dir, AuthDir: auth, SocksAddr: t.SocksAddr, PID: t.PID}, nil
}

// Client returns the running client tor name that StartClient started.
func (e *Env) Client(name string) (*Client, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	dir := filepath.Join(e.Dir, extraDir, name)
	torrc := filepath.Join(dir, torrcFile)
	pid, err := readPid(filepath.Join(dir, pidFile))
	if err != nil || !ourTor(pid, torrc) {
		return nil, fmt.Errorf("testnet: no client tor %s runs in %s", name, e.Dir)
	}
	c := &Client{Name: name, Dir: dir, PID: pid}
	b, err := os.ReadFile(torrc)
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "ClientOnionAuthDir "); ok {
			c.AuthDir = strings.TrimSpace(v)
		}
	}
	if c.AuthDir == "" {
		return nil, fmt.Errorf("testnet: tor %s has no ClientOnionAuthDir (not started as a client with credentials)", name)
	}
	follow := &logFollower{path: filepath.Join(dir, noticeLog)}
	for _, l := range follow.next() {
		if m := listenerRE.FindStringSubmatch(l); m != nil && m[1] == "Socks" {
			c.SocksAddr = m[2]
		}
	}
	if c.SocksAddr == "" {
		return nil, fmt.Errorf("testnet: client tor %s: no SocksPort in its log%s", name, quoteLog(dir))
	}
	return c, nil
}

// CheckName says whether name may name a client tor (or an extra tor).
func CheckName(name string) error {
	if !torNameRE.MatchString(name) {
		return fmt.Errorf("testnet: bad client name %q (letters, digits, '.', '_' and '-', at most 100)", name)
	}
	return nil
}

var (
	credentialRE = regexp.MustCompile(`^[a-z2-7]{56}:descriptor:x25519:[A-Z2-7]{52}$`)
	credNameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	reloadedRE   = regexp.MustCompile(`opening (new )?log file`)
)

// AddCredential writes credential (a line "ADDRESS:descriptor:x25519:KEY",
// as `tails-server client show --format auth-private` prints it) to
// AuthDir/<file>.auth_private (0600, atomically; an older one of that name
// is replaced) and makes the tor read its credentials again (SIGHUP),
// returning once it has. It returns the file's path.
func (c *Client) AddCredential(ctx context.Context, file, credential string) (string, error) {
	if !credNameRE.MatchString(file) {
		return "", fmt.Errorf("testnet: bad credential name %q (letters, digits, '_' and '-', at most 64)", file)
	}
	credential = strings.TrimSpace(credential)
	if !credentialRE.MatchString(credential) {
		// Never quote it: it is a secret, even when malformed.
		return "", errors.New("testnet: malformed credential: want ADDRESS:descriptor:x25519:KEY, as `tails-server client show SERVICE NAME --format auth-private` prints it")
	}
	if err := os.MkdirAll(c.AuthDir, dirPerm); err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	path := filepath.Join(c.AuthDir, file+authFileExt)
	if err := writeFileAtomic(path, []byte(credential+"\n"), filePerm); err != nil {
		return "", err
	}
	return path, c.reload(ctx)
}

// reload sends SIGHUP and waits until tor's log says it applied its
// configuration again (it reads ClientOnionAuthDir then).
func (c *Client) reload(ctx context.Context) error {
	follow := &logFollower{path: filepath.Join(c.Dir, noticeLog)}
	follow.next() // skip what is there
	if err := syscall.Kill(c.PID, syscall.SIGHUP); err != nil {
		return fmt.Errorf("testnet: reloading client tor %s (pid %d): %w", c.Name, c.PID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	seen := false
	for {
		for _, l := range follow.next() {
			seen = seen || strings.Contains(l, "Received reload signal")
			if seen && reloadedRE.MatchString(l) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testnet: client tor %s did not reload within %v after SIGHUP%s", c.Name, reloadTimeout, quoteLog(c.Dir))
		case <-tick.C:
		}
	}
}

// WaitReachable returns once a stream through the client tor to target
// ("ADDRESS.onion:PORT") opens, trying again while tor refuses it. A
// service given a new client publishes a new descriptor, and until the
// client tor has fetched it, tor answers "wrong client authorization"
// (for a second or two on this network). It gives up when ctx ends, with
// the last refusal.
func (c *Client) WaitReachable(ctx context.Context, target string) error {
	var last error
	for {
		attempt, cancel := context.WithTimeout(ctx, 30*time.Second)
		conn, err := socks.Dial(attempt, c.SocksAddr, target, nil)
		cancel()
		if err == nil {
			conn.Close()
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("testnet: %s not reachable through client tor %s: %v", target, c.Name, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

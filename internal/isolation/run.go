package isolation

import (
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"tails-server/internal/store"
)

// isolateKeyRE is what an isolate key may hold: it becomes a SOCKS5
// username and password (at most 255 bytes each), a word of
// torsocks.conf (no white space, no '#') and the user part of a URL.
var isolateKeyRE = regexp.MustCompile(`^[A-Za-z0-9._~+=:@/-]{1,200}$`)

// CheckIsolateKey refuses a key that cannot travel safely as a SOCKS
// username, or that Tor reserves.
func CheckIsolateKey(key string) error {
	if ReservedUsername(key) {
		return errors.New(`isolate key begins with "<torS0X>", which Tor reserves for its own SOCKS parameters: choose another`)
	}
	if !isolateKeyRE.MatchString(key) {
		return errors.New("isolate key must be 1 to 200 of A-Z a-z 0-9 . _ ~ + = : @ / -")
	}
	return nil
}

// isolatePassword is the SOCKS password sent with an isolate key; tor
// isolates on the username and the password, the key alone is enough.
const isolatePassword = "tails-server"

// RunSetup is what `isolation run` gives a command: its environment and
// a private directory holding the torsocks configuration.
type RunSetup struct {
	// Dir is the private (0700) directory holding torsocks.conf; remove
	// it with Cleanup once the command has exited.
	Dir string
	// Env is the command's environment.
	Env []string
	// SocksAddr is the app's SOCKS port, "127.0.0.1:PORT".
	SocksAddr string
}

// Cleanup removes the private directory.
func (r *RunSetup) Cleanup() error { return os.RemoveAll(r.Dir) }

// PrepareRun sets up what a command of app needs to use its SOCKS port
// (shifted by offset): proxy variables (ALL_PROXY, all_proxy, HTTP_PROXY,
// http_proxy, HTTPS_PROXY, https_proxy as socks5h:// URLs, so that names
// are resolved by tor), TORSOCKS_CONF_FILE naming a generated
// torsocks.conf, and with key a SOCKS username/password of its own for
// IsolateSOCKSAuth. Inherited NO_PROXY/no_proxy and TORSOCKS_* variables
// are dropped, since they could send traffic around tor or elsewhere.
// base is the environment to start from (os.Environ()).
func (p *Policy) PrepareRun(app string, offset int, key string, base []string) (*RunSetup, error) {
	addr, err := p.SocksAddr(app, offset)
	if err != nil {
		return nil, err
	}
	return p.PrepareRunAt(app, addr, key, base)
}

// PrepareRunAt is PrepareRun with the SOCKS port at addr ("IP:PORT"):
// a confined application's, on the host side of its veth.
func (p *Policy) PrepareRunAt(app, addr, key string, base []string) (*RunSetup, error) {
	if key != "" {
		if err := CheckIsolateKey(key); err != nil {
			return nil, err
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	u := &url.URL{Scheme: "socks5h", Host: addr}
	conf := []string{
		"# torsocks configuration for app " + app + ", written by tails-server isolation run",
		"TorAddress " + host,
		"TorPort " + port,
		"OnionAddrRange 127.42.42.0/24",
		"AllowOutboundLocalhost 0",
	}
	if key != "" {
		u.User = url.UserPassword(key, isolatePassword)
		conf = append(conf, "SOCKS5Username "+key, "SOCKS5Password "+isolatePassword)
	}
	text := strings.Join(conf, "\n") + "\n"
	if strings.Count(text, "\n") != len(conf) {
		return nil, errors.New("refusing a torsocks configuration value with a line break")
	}
	dir, err := os.MkdirTemp("", "tails-server-run-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	confPath := filepath.Join(dir, "torsocks.conf")
	if err := store.WriteFile(confPath, []byte(text), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	proxy := u.String()
	var env []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "TORSOCKS_"):
		case strings.EqualFold(k, "no_proxy"), strings.EqualFold(k, "all_proxy"),
			strings.EqualFold(k, "http_proxy"), strings.EqualFold(k, "https_proxy"):
		default:
			env = append(env, kv)
		}
	}
	env = append(env,
		"ALL_PROXY="+proxy, "all_proxy="+proxy,
		"HTTP_PROXY="+proxy, "http_proxy="+proxy,
		"HTTPS_PROXY="+proxy, "https_proxy="+proxy,
		"TORSOCKS_CONF_FILE="+confPath,
	)
	return &RunSetup{Dir: dir, Env: env, SocksAddr: addr}, nil
}

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
	"tails-server/internal/testnet"
)

// addReachWait bounds how long `testnet client add` waits for the
// service to answer through the client tor.
const addReachWait = 2 * time.Minute

// testnetClientView is what `testnet client start|env|add` print.
type testnetClientView struct {
	Name      string `yaml:"name" json:"name"`
	SocksAddr string `yaml:"socks_addr" json:"socks_addr"`
	AuthDir   string `yaml:"client_onion_auth_dir" json:"client_onion_auth_dir"`
	PID       int    `yaml:"pid" json:"pid"`
	// Set by add.
	Service        string `yaml:"service,omitempty" json:"service,omitempty"`
	Client         string `yaml:"client,omitempty" json:"client,omitempty"`
	OnionAddress   string `yaml:"onion_address,omitempty" json:"onion_address,omitempty"`
	CredentialFile string `yaml:"credential_file,omitempty" json:"credential_file,omitempty"`
	// Reachable says that a stream to the service's onion opened through
	// this client tor, after the credential was added.
	Reachable *bool `yaml:"reachable,omitempty" json:"reachable,omitempty"`
}

// runTestnetClient is `tails-server testnet client start|env|add`: a
// client tor of the private network with a ClientOnionAuthDir (the
// demo's), and the credentials of the daemon's services put into it.
func runTestnetClient(e *env, args []string) error {
	fs := flag.NewFlagSet("testnet client", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory of the network (required)")
	name := fs.String("name", testnet.DefaultClientName, "the client tor's name (its directory is DIR/extra/NAME)")
	clientName := fs.String("client", testnet.DefaultClientName, "add: the service's client whose credential to use (added if missing)")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErr("testnet client takes start, env or add SERVICE")
	}
	if *dir == "" {
		return usageErr("testnet client %s needs --dir DIR (the network's directory)", pos[0])
	}
	if err := testnet.CheckName(*name); err != nil {
		return usageErr("--name: %v", err)
	}
	net, err := testnet.Load(*dir)
	if err != nil {
		return &exitError{code: ExitFailure, err: err, hint: "start the network with `tails-server testnet up --dir " + *dir + "`"}
	}
	notRunning := func(err error) error {
		return &exitError{code: ExitFailure, err: err, hint: "start it with `tails-server testnet client start --dir " + *dir + " --name " + *name + "`"}
	}
	switch verb, rest := pos[0], pos[1:]; verb {
	case "start":
		if err := wantArgs("testnet client start", rest, 0, "no arguments"); err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		c, err := net.StartClient(ctx, *name)
		if err != nil {
			return err
		}
		return e.print(clientView(c))
	case "env":
		if err := wantArgs("testnet client env", rest, 0, "no arguments"); err != nil {
			return err
		}
		c, err := net.Client(*name)
		if err != nil {
			return notRunning(err)
		}
		return e.print(clientView(c))
	case "add":
		if err := wantArgs("testnet client add", rest, 1, "one service name"); err != nil {
			return err
		}
		svc := rest[0]
		c, err := net.Client(*name)
		if err != nil {
			return notRunning(err)
		}
		cred, err := credential(e, e.client(), svc, *clientName)
		if err != nil {
			return err
		}
		path, err := c.AddCredential(e.ctx, svc, cred)
		if err != nil {
			return err
		}
		v := clientView(c)
		v.Service, v.Client, v.CredentialFile = svc, *clientName, path
		s, err := e.client().Info(e.ctx, svc, false)
		if err != nil {
			return err
		}
		v.OnionAddress = s.OnionAddress
		var reachErr error
		if s.OnionAddress != "" && s.OnionPort != 0 && s.State != apitype.StateDisabled && s.State != apitype.StateFailed {
			// Return when the credential works, so that the next command
			// reaches the service at once.
			ctx, cancel := context.WithTimeout(e.ctx, addReachWait)
			reachErr = c.WaitReachable(ctx, fmt.Sprintf("%s:%d", s.OnionAddress, s.OnionPort))
			cancel()
			ok := reachErr == nil
			v.Reachable = &ok
		}
		if err := e.print(v); err != nil {
			return err
		}
		if reachErr != nil {
			return &exitError{code: ExitNotReachable, err: reachErr,
				hint: fmt.Sprintf("the credential is in place; follow the service with `tails-server status %s`", svc)}
		}
		return nil
	default:
		return usageErr("unknown testnet client verb %q: use start, env or add", verb)
	}
}

// credential returns the auth-private line of service's client name,
// adding that client first if the service has none of that name.
func credential(e *env, c *client.Client, service, name string) (string, error) {
	list, err := c.Clients(e.ctx, service)
	if err != nil {
		return "", err
	}
	found := false
	for _, cl := range list {
		found = found || cl.Name == name
	}
	if !found {
		if _, err := c.AddClient(e.ctx, service, name); err != nil {
			return "", err
		}
	}
	cl, err := c.Client(e.ctx, service, name)
	if err != nil {
		return "", err
	}
	if cl.Credential == "" {
		return "", errors.New("the daemon returned no credential for " + service + "'s client " + name)
	}
	return cl.Credential, nil
}

func clientView(c *testnet.Client) testnetClientView {
	return testnetClientView{Name: c.Name, SocksAddr: c.SocksAddr, AuthDir: c.AuthDir, PID: c.PID}
}

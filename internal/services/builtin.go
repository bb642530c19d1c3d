package services

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"tails-server/internal/staticweb"
)

// Backend is a running service backend, listening on a loopback address.
type Backend interface {
	// Addr is the loopback address tor forwards the onion port to.
	Addr() string
	Close() error
}

// Definition describes a hosted service: what it is, how its backend runs,
// and how the daemon proves it reachable through its onion.
type Definition struct {
	Name        string
	Title       string
	Description string
	// OnionPort is the virtual port of the onion service.
	OnionPort int
	// Start runs the backend with its data in dataDir.
	Start func(dataDir string) (Backend, error)
	// Probe speaks the service's protocol over conn (already connected
	// through the onion) and returns nil if the service answered.
	Probe func(conn net.Conn, host string) error
	// DocRoot, when set, is the subdirectory of the data dir served.
	DocRoot string
	// ConnectURI is how a client opens the service; "{address}" and
	// "{port}" are replaced.
	ConnectURI string
	// Instructions tell a client, briefly, how to connect.
	Instructions string
}

// Builtin is the catalog of services built into the binary.
var Builtin = map[string]*Definition{
	"web": {
		Name:        "web",
		Title:       "Web server",
		Description: "Static web site served from a folder, for the Tor Browser.",
		OnionPort:   80,
		DocRoot:     "www",
		Start: func(dataDir string) (Backend, error) {
			root := filepath.Join(dataDir, "www")
			if err := staticweb.WriteWelcome(root, "Welcome"); err != nil {
				return nil, err
			}
			return staticweb.Start(root, "127.0.0.1:0")
		},
		Probe:      probeHTTP,
		ConnectURI: "http://{address}/",
		Instructions: "Open the address in the Tor Browser. With client authorization, " +
			"the browser asks for the key when it first opens the address: paste the " +
			"last part of the credential (after \"x25519:\"), or put the whole " +
			"credential line in a file ending in .auth_private in the directory that " +
			"ClientOnionAuthDir names in your torrc.",
	},
}

// probeHTTP sends a GET / and wants any HTTP answer.
func probeHTTP(conn net.Conn, host string) error {
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	req, _ := http.NewRequest(http.MethodGet, "http://"+host+"/", nil)
	req.Header.Set("User-Agent", "tails-server-selfcheck")
	req.Close = true
	if err := req.Write(conn); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return fmt.Errorf("no HTTP answer through the onion: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("HTTP %s through the onion", resp.Status)
	}
	return nil
}

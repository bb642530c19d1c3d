package grater

import (
	"testing"

	"tails-server/internal/onionkey"
)

// ShippedProfile is the profile the package installs as
// /etc/onion-grater.d/tails-server.yml, from this package's directory.
const shippedProfile = "../../packaging/onion-grater/tails-server.yml"

// TestShippedProfile: the shipped profile serves the daemon (root running
// /usr/bin/tails-server) and nobody else, lets through the shapes of
// what the daemon sends, and refuses what it never sends: a detached
// onion, a port to another host, a credential on the system tor, a
// configuration change, a signal, stream events.
func TestShippedProfile(t *testing.T) {
	fs, err := Load(shippedProfile)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Match(fs, "/usr/bin/tails-server", "root")
	if err != nil {
		t.Fatal(err)
	}
	for _, who := range [][2]string{{"/usr/bin/tails-server", "amnesia"}, {"/usr/bin/python3", "root"}} {
		if _, err := Match(fs, who[0], who[1]); err == nil {
			t.Errorf("the profile serves %s run by %s", who[0], who[1])
		}
	}
	k, err := onionkey.GenerateServiceKey()
	if err != nil {
		t.Fatal(err)
	}
	ck, err := onionkey.GenerateClientKey()
	if err != nil {
		t.Fatal(err)
	}
	ck2, _ := onionkey.GenerateClientKey()
	addr, blob, pub := k.Address(), k.TorBlob(), ck.PublicBase32()
	for _, c := range []struct {
		line string
		want bool
	}{
		{"ADD_ONION " + blob + " Port=80,127.0.0.1:41234", true},
		{"ADD_ONION NEW:ED25519-V3 Port=80,127.0.0.1:41234", true},
		{"ADD_ONION " + blob + " Port=80,127.0.0.1:41234 Port=443,127.0.0.1:41235", true},
		{"ADD_ONION " + blob + " Flags=V3Auth Port=80,127.0.0.1:41234 ClientAuthV3=" + pub + " ClientAuthV3=" + ck2.PublicBase32(), true},
		{"ADD_ONION " + blob + " Flags=V3Auth,Detach Port=80,127.0.0.1:41234 ClientAuthV3=" + pub, false},
		{"ADD_ONION " + blob + " Flags=MaxStreamsCloseCircuit,V3Auth MaxStreams=64 PoWDefensesEnabled=1 PoWQueueRate=250 PoWQueueBurst=2500 Port=80,127.0.0.1:41234 ClientAuthV3=" + pub, true},
		{"ADD_ONION " + blob + " Flags=MaxStreamsCloseCircuit MaxStreams=4 PoWDefensesEnabled=1 PoWQueueRate=0 PoWQueueBurst=1 Port=64738,127.0.0.1:41234", true},
		{"ADD_ONION " + blob + " MaxStreams=4 Port=80,127.0.0.1:41234", true},
		{"ADD_ONION " + blob + " Flags=MaxStreamsCloseCircuit,Detach MaxStreams=4 Port=80,127.0.0.1:41234", false},
		{"ADD_ONION " + blob + " PoWDefensesEnabled=1 PoWQueueRate=250 Port=80,127.0.0.1:41234", false},
		{"GETINFO version", true},
		{"ADD_ONION " + blob + " Flags=Detach Port=80,127.0.0.1:41234", false},
		{"ADD_ONION " + blob + " Port=80,10.0.0.1:80", false},
		{"ADD_ONION " + blob + " Port=80,unix:/run/x", false},
		{"ADD_ONION " + blob + " Port=80", false},
		{"ADD_ONION " + blob + " Port=80,127.0.0.1:41234 ClientAuthV3=" + pub, false}, // no V3Auth
		{"ADD_ONION NEW:RSA1024 Port=80,127.0.0.1:41234", false},
		{"DEL_ONION " + addr, true},
		{"DEL_ONION " + addr + ".onion", false},
		{"DEL_ONION " + addr + " " + addr, false},
		{"ONION_CLIENT_AUTH_REMOVE " + addr, true},
		{"ONION_CLIENT_AUTH_ADD " + addr + " x25519:" + ck.PrivateBase64(), false},
		{"ONION_CLIENT_AUTH_VIEW", false},
		{"GETINFO version net/listeners/socks", true},
		{"GETINFO status/bootstrap-phase", true},
		{"GETINFO process/uid", true},
		{"GETINFO circuit-status", true},
		{"GETINFO config-text", false},
		{"GETINFO onions/detached", false},
		{"GETCONF VanguardsLiteEnabled", true},
		{"GETCONF ControlPort", false},
		{"CLOSECIRCUIT 42", true},
		{"CLOSECIRCUIT 42 IfUnused", false},
		{"SETCONF DisableNetwork=1", false},
		{"SIGNAL NEWNYM", false},
		{"HSFETCH " + addr, false},
		{"SETEVENTS HS_DESC STATUS_CLIENT", true},
		{"SETEVENTS", true},
		{"SETEVENTS STREAM", false},
		{"SETEVENTS CIRC", false},
	} {
		if got, why := f.Allows(c.line); got != c.want {
			t.Errorf("%.60q...: allowed %v (%s), want %v", c.line, got, why, c.want)
		}
	}
}

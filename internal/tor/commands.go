package tor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"tails-server/internal/onionkey"
)

// GetInfo asks tor for the values of keys (GETINFO), e.g. "version",
// "status/bootstrap-phase", "net/listeners/socks". Multi-line values come
// back with their lines joined by "\n".
func (c *Conn) GetInfo(ctx context.Context, keys ...string) (map[string]string, error) {
	if len(keys) == 0 {
		return nil, argErr("GetInfo keys", "none given")
	}
	for _, k := range keys {
		if err := checkToken("GetInfo key", k, reInfoKey); err != nil {
			return nil, err
		}
	}
	r, err := c.do(ctx, "GETINFO "+strings.Join(keys, " "))
	if err != nil {
		return nil, fmt.Errorf("tor: GETINFO: %w", err)
	}
	out := make(map[string]string, len(keys))
	for _, l := range r.Lines {
		k, v, ok := strings.Cut(l.Text, "=")
		if !ok {
			continue // the final "OK"
		}
		if l.HasData {
			v = l.Data
		}
		out[k] = v
	}
	return out, nil
}

// GetConf returns the values of configuration options (GETCONF). Options
// set several times (HiddenServicePort, ...) have several values; options
// at their default and unset have none. The map is keyed by the spelling
// the caller used.
func (c *Conn) GetConf(ctx context.Context, keys ...string) (map[string][]string, error) {
	if len(keys) == 0 {
		return nil, argErr("GetConf keys", "none given")
	}
	for _, k := range keys {
		if err := checkToken("GetConf key", k, reConfKey); err != nil {
			return nil, err
		}
	}
	r, err := c.do(ctx, "GETCONF "+strings.Join(keys, " "))
	if err != nil {
		return nil, fmt.Errorf("tor: GETCONF: %w", err)
	}
	out := make(map[string][]string, len(keys))
	for _, l := range r.Lines {
		k, v, hasValue := strings.Cut(l.Text, "=")
		for _, want := range keys {
			if strings.EqualFold(k, want) {
				k = want
				break
			}
		}
		if hasValue {
			out[k] = append(out[k], v)
		} else if _, ok := out[k]; !ok {
			out[k] = nil
		}
	}
	return out, nil
}

// KeyValue is one configuration setting for SetConf.
type KeyValue struct {
	Key   string
	Value string // "" resets the option to its default
}

// SetConf changes configuration options (SETCONF), all at once or none.
// Values are sent quoted, so they may hold spaces, but not '"', '\\' or
// control characters. Giving the same key several times sets a list
// option (HiddenServicePort, ...) to all those values.
func (c *Conn) SetConf(ctx context.Context, settings ...KeyValue) error {
	if len(settings) == 0 {
		return argErr("SetConf settings", "none given")
	}
	var b strings.Builder
	b.WriteString("SETCONF")
	for _, kv := range settings {
		if err := checkToken("SetConf key", kv.Key, reConfKey); err != nil {
			return err
		}
		if err := checkQuotable("SetConf value of "+kv.Key, kv.Value); err != nil {
			return err
		}
		b.WriteString(" " + kv.Key)
		if kv.Value != "" {
			b.WriteString("=" + quote(kv.Value))
		}
	}
	if _, err := c.do(ctx, b.String()); err != nil {
		return fmt.Errorf("tor: SETCONF: %w", err)
	}
	return nil
}

// Signal sends tor a signal (SIGNAL): RELOAD, SHUTDOWN, DUMP, DEBUG, HALT,
// NEWNYM, CLEARDNSCACHE, HEARTBEAT, ACTIVE, DORMANT, ...
func (c *Conn) Signal(ctx context.Context, name string) error {
	if err := checkToken("signal", name, reSignal); err != nil {
		return err
	}
	if _, err := c.do(ctx, "SIGNAL "+strings.ToUpper(name)); err != nil {
		return fmt.Errorf("tor: SIGNAL: %w", err)
	}
	return nil
}

// PortMapping maps a virtual port of an onion service to a local target.
type PortMapping struct {
	Virtual int // the port clients connect to, 1..65535
	// Target is where tor sends the connections: "PORT" (on 127.0.0.1),
	// "IP:PORT", "[IPv6]:PORT" or "unix:/absolute/path"; "" means the
	// virtual port on 127.0.0.1.
	Target string
}

// AddOnionRequest describes an onion service for AddOnion.
type AddOnionRequest struct {
	Key          *onionkey.ServiceKey // nil: tor makes a new ED25519-V3 key
	Ports        []PortMapping        // at least one
	ClientAuthV3 []string             // base32 x25519 public keys; implies the V3Auth flag
	// Flags: DiscardPK, Detach, V3Auth, NonAnonymous,
	// MaxStreamsCloseCircuit (BasicAuth is for v2 and useless).
	Flags      []string
	MaxStreams int // 0: no limit
	// PoW, when not nil, turns on the proof-of-work defenses
	// (PoWDefensesEnabled=1); tor 0.4.9.2 or newer with the pow module
	// only: an older tor refuses the line (see IsPoWRefusal).
	PoW *PoWParams
}

// PoWParams are the proof-of-work defenses' queue settings.
type PoWParams struct {
	QueueRate  int // requests dispatched per second, 0..MaxPoWValue; 0: no limit
	QueueBurst int // requests dispatched at once, 1..MaxPoWValue
}

// MaxPoWValue bounds PoWQueueRate and PoWQueueBurst (tor takes 32 bits).
const MaxPoWValue = 1<<31 - 1

// AddOnionReply is tor's answer to ADD_ONION.
type AddOnionReply struct {
	ServiceID string               // the onion address, without ".onion"
	Key       *onionkey.ServiceKey // the new key, when tor made one and DiscardPK was not set
}

// AddOnion creates an onion service (ADD_ONION). Unless the Detach flag is
// given, the service lives as long as this connection.
func (c *Conn) AddOnion(ctx context.Context, req AddOnionRequest) (*AddOnionReply, error) {
	line, err := addOnionLine(req)
	if err != nil {
		return nil, err
	}
	r, err := c.do(ctx, line)
	if err != nil {
		return nil, fmt.Errorf("tor: ADD_ONION: %w", err)
	}
	out := &AddOnionReply{}
	var blob string
	for _, l := range r.Lines {
		k, v, _ := strings.Cut(l.Text, "=")
		switch k {
		case "ServiceID":
			out.ServiceID = v
		case "PrivateKey":
			blob = v
		}
	}
	if !onionkey.ValidAddress(out.ServiceID) {
		return nil, fmt.Errorf("%w: ADD_ONION returned no valid ServiceID", errProtocol)
	}
	if blob != "" {
		if !strings.HasPrefix(blob, onionkey.ServiceKeyType+":") {
			return nil, fmt.Errorf("%w: ADD_ONION returned a key of another type than %s", errProtocol, onionkey.ServiceKeyType)
		}
		k, err := onionkey.ParseTorBlob(blob)
		if err != nil {
			return nil, fmt.Errorf("tor: ADD_ONION: %w", err)
		}
		if k.Address() != out.ServiceID {
			return nil, fmt.Errorf("%w: ADD_ONION returned a key that does not match its ServiceID", errProtocol)
		}
		out.Key = k
	}
	if req.Key != nil && req.Key.Address() != out.ServiceID {
		return nil, fmt.Errorf("%w: ADD_ONION returned a ServiceID that does not match the key", errProtocol)
	}
	return out, nil
}

func addOnionLine(req AddOnionRequest) (string, error) {
	parts := []string{"ADD_ONION"}
	if req.Key == nil {
		parts = append(parts, "NEW:"+onionkey.ServiceKeyType)
	} else {
		parts = append(parts, req.Key.TorBlob())
	}
	var flags []string
	seen := map[string]bool{}
	addFlag := func(f string) {
		if !seen[f] {
			seen[f] = true
			flags = append(flags, f)
		}
	}
	for _, f := range req.Flags {
		if err := checkText("AddOnion flag", f); err != nil {
			return "", err
		}
		canon, ok := onionFlags[strings.ToLower(f)]
		if !ok {
			return "", argErr("AddOnion flag", "%q is not a known ADD_ONION flag", f)
		}
		addFlag(canon)
	}
	if len(req.ClientAuthV3) > 0 {
		addFlag("V3Auth")
	}
	if len(flags) > 0 {
		parts = append(parts, "Flags="+strings.Join(flags, ","))
	}
	if req.MaxStreams != 0 {
		if req.MaxStreams < 0 || req.MaxStreams > 65535 {
			return "", argErr("AddOnion MaxStreams", "%d out of range 0..65535", req.MaxStreams)
		}
		parts = append(parts, "MaxStreams="+strconv.Itoa(req.MaxStreams))
	}
	if p := req.PoW; p != nil {
		if p.QueueRate < 0 || p.QueueRate > MaxPoWValue {
			return "", argErr("AddOnion PoWQueueRate", "%d out of range 0..%d", p.QueueRate, MaxPoWValue)
		}
		if p.QueueBurst < 1 || p.QueueBurst > MaxPoWValue {
			return "", argErr("AddOnion PoWQueueBurst", "%d out of range 1..%d", p.QueueBurst, MaxPoWValue)
		}
		parts = append(parts, "PoWDefensesEnabled=1", "PoWQueueRate="+strconv.Itoa(p.QueueRate), "PoWQueueBurst="+strconv.Itoa(p.QueueBurst))
	}
	if len(req.Ports) == 0 {
		return "", argErr("AddOnion ports", "none given")
	}
	for _, p := range req.Ports {
		if err := checkPort("AddOnion virtual port", p.Virtual); err != nil {
			return "", err
		}
		if err := checkTarget("AddOnion port target", p.Target); err != nil {
			return "", err
		}
		s := "Port=" + strconv.Itoa(p.Virtual)
		if p.Target != "" {
			s += "," + p.Target
		}
		parts = append(parts, s)
	}
	for _, k := range req.ClientAuthV3 {
		if err := checkText("AddOnion ClientAuthV3 key", k); err != nil {
			return "", err
		}
		if !onionkey.ValidClientPublicBase32(k) {
			return "", argErr("AddOnion ClientAuthV3 key", "%q is not a base32 x25519 public key", k)
		}
		parts = append(parts, "ClientAuthV3="+k)
	}
	return strings.Join(parts, " "), nil
}

// DelOnion removes an onion service added by AddOnion (DEL_ONION).
// serviceID is its address, with or without ".onion".
func (c *Conn) DelOnion(ctx context.Context, serviceID string) error {
	id, err := checkAddress("DelOnion service id", serviceID)
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, "DEL_ONION "+id); err != nil {
		return fmt.Errorf("tor: DEL_ONION: %w", err)
	}
	return nil
}

// Circuits returns tor's current circuits (GETINFO circuit-status), in
// the form of CIRC events.
func (c *Conn) Circuits(ctx context.Context) ([]Circ, error) {
	info, err := c.GetInfo(ctx, "circuit-status")
	if err != nil {
		return nil, err
	}
	var out []Circ
	for _, line := range strings.Split(info["circuit-status"], "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if circ, ok := ParseCirc(Event{Type: "CIRC", Raw: "CIRC " + line}); ok {
			out = append(out, circ)
		}
	}
	return out, nil
}

// CloseCircuit closes the circuit with the given id (CLOSECIRCUIT).
func (c *Conn) CloseCircuit(ctx context.Context, id string) error {
	if err := checkToken("CloseCircuit id", id, reCircID); err != nil {
		return err
	}
	if _, err := c.do(ctx, "CLOSECIRCUIT "+id); err != nil {
		return fmt.Errorf("tor: CLOSECIRCUIT: %w", err)
	}
	return nil
}

// CloseServiceCircuits closes the rendezvous circuits of the onion service
// at address. DEL_ONION leaves them open so that current connections can
// finish, and a service re-added with the same key would go on serving
// them: closing them is how a revoked client loses its open connection.
// It returns how many it closed.
func (c *Conn) CloseServiceCircuits(ctx context.Context, address string) (int, error) {
	id, err := checkAddress("CloseServiceCircuits address", address)
	if err != nil {
		return 0, err
	}
	circs, err := c.Circuits(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, circ := range circs {
		if circ.RendQuery == id && strings.HasPrefix(circ.Purpose, "HS_SERVICE_REND") {
			if err := c.CloseCircuit(ctx, circ.ID); err != nil {
				var re *ReplyError
				if errors.As(err, &re) && re.Code == 552 {
					continue // closed meanwhile
				}
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// OnionClientAuthAdd gives tor the client-authorization key for the onion
// service at address (ONION_CLIENT_AUTH_ADD). nickname is optional (1-16
// of A-Z a-z 0-9 + - _). A permanent key is written to tor's
// ClientOnionAuthDir, which must be configured; otherwise it lives in
// tor's memory only.
func (c *Conn) OnionClientAuthAdd(ctx context.Context, address string, key *onionkey.ClientKey, nickname string, permanent bool) error {
	addr, err := checkAddress("OnionClientAuthAdd address", address)
	if err != nil {
		return err
	}
	if key == nil {
		return argErr("OnionClientAuthAdd key", "nil")
	}
	line := "ONION_CLIENT_AUTH_ADD " + addr + " x25519:" + key.PrivateBase64()
	if nickname != "" {
		if err := checkToken("OnionClientAuthAdd nickname", nickname, reNickname); err != nil {
			return err
		}
		line += " ClientName=" + nickname
	}
	if permanent {
		line += " Flags=Permanent"
	}
	if _, err := c.do(ctx, line); err != nil {
		return fmt.Errorf("tor: ONION_CLIENT_AUTH_ADD: %w", err)
	}
	return nil
}

// OnionClientAuthRemove removes the client-authorization key for the onion
// service at address (ONION_CLIENT_AUTH_REMOVE).
func (c *Conn) OnionClientAuthRemove(ctx context.Context, address string) error {
	addr, err := checkAddress("OnionClientAuthRemove address", address)
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, "ONION_CLIENT_AUTH_REMOVE "+addr); err != nil {
		return fmt.Errorf("tor: ONION_CLIENT_AUTH_REMOVE: %w", err)
	}
	return nil
}

// HSFetch asks tor to fetch the descriptor of the onion service at address
// from its directories now (HSFETCH), replacing a cached one when the
// fetched one is newer: a client whose cache still holds the descriptor
// of a service's earlier run (its introduction points gone with the tor
// that hosted it) gets the new one. Tor answers at once; the fetch goes on
// in the background (HS_DESC events).
func (c *Conn) HSFetch(ctx context.Context, address string) error {
	addr, err := checkAddress("HSFetch address", address)
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, "HSFETCH "+addr); err != nil {
		return fmt.Errorf("tor: HSFETCH: %w", err)
	}
	return nil
}

// ClientAuthEntry is one client-authorization key tor holds.
type ClientAuthEntry struct {
	Address    string              // the service's address, without ".onion"
	Key        *onionkey.ClientKey // the client's key
	ClientName string              // the nickname, if any
	Flags      []string            // e.g. ["Permanent"]
}

// OnionClientAuthView lists the client-authorization keys tor holds for
// the onion service at address, or for all services if address is ""
// (ONION_CLIENT_AUTH_VIEW).
func (c *Conn) OnionClientAuthView(ctx context.Context, address string) ([]ClientAuthEntry, error) {
	line := "ONION_CLIENT_AUTH_VIEW"
	if address != "" {
		addr, err := checkAddress("OnionClientAuthView address", address)
		if err != nil {
			return nil, err
		}
		line += " " + addr
	}
	r, err := c.do(ctx, line)
	if err != nil {
		return nil, fmt.Errorf("tor: ONION_CLIENT_AUTH_VIEW: %w", err)
	}
	return parseClientAuthView(r)
}

func parseClientAuthView(r *reply) ([]ClientAuthEntry, error) {
	var out []ClientAuthEntry
	for i, l := range r.Lines {
		word, rest, _ := strings.Cut(l.Text, " ")
		if word != "CLIENT" {
			continue
		}
		a, err := parseArgs(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: ONION_CLIENT_AUTH_VIEW line %d", errProtocol, i+1)
		}
		pos, kw := a.positional(), a.keywords()
		if len(pos) < 2 || !strings.HasPrefix(pos[1], "x25519:") {
			return nil, fmt.Errorf("%w: ONION_CLIENT_AUTH_VIEW line %d", errProtocol, i+1)
		}
		k, err := onionkey.ParseClientPrivateBase64(strings.TrimPrefix(pos[1], "x25519:"))
		if err != nil {
			return nil, fmt.Errorf("tor: ONION_CLIENT_AUTH_VIEW line %d: %w", i+1, err)
		}
		e := ClientAuthEntry{Address: pos[0], Key: k, ClientName: kw["ClientName"]}
		if f := kw["Flags"]; f != "" {
			e.Flags = strings.Split(f, ",")
		}
		out = append(out, e)
	}
	return out, nil
}

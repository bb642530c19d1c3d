package isoproxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Mode says what the proxy isolates.
type Mode string

const (
	// ModeSite gives each destination site its own circuits: the
	// registrable domain (eTLD+1) of a host name, the onion address of a
	// .onion name, the address itself for an IP literal.
	ModeSite Mode = "site"
	// ModeConn gives each client connection group its own circuits: the
	// connections that presented the same SOCKS username and password
	// form a group; a connection without credentials is a group of its
	// own (so with such a client every stream gets fresh circuits).
	ModeConn Mode = "conn"
)

// ParseMode parses "site" or "conn".
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case ModeSite, ModeConn:
		return Mode(s), nil
	}
	return "", fmt.Errorf("unknown isolation mode %q: use site or conn", s)
}

// ReservedPrefix starts the SOCKS usernames that Tor 0.4.9 reserves for
// its extended SOCKS parameters. The proxy never sends one and refuses
// clients that do.
const ReservedPrefix = "<torS0X>"

// usernamePrefix starts every username the proxy sends to Tor. It is
// printable ASCII without '<', so no username can start with
// ReservedPrefix, and it tells an audit which streams came through the
// proxy.
const usernamePrefix = "tsiso-"

// Password is the SOCKS password sent with every username. Tor isolates
// on the pair; the username alone carries the key.
const Password = "tails-server"

// Site returns the first-party site of host for ModeSite: the lower-case
// registrable domain (eTLD+1, from the public suffix list) of a host name,
// "NAME.onion" for a name under .onion (subdomains dropped), the canonical
// text of an IP literal, and the whole name when it has no registrable
// domain (a bare public suffix such as "com", or a single label such as
// "localhost").
func Site(host string) string {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
		return ip.String()
	}
	if strings.HasSuffix(h, ".onion") {
		labels := strings.Split(h, ".")
		return labels[len(labels)-2] + ".onion"
	}
	if d, err := publicsuffix.EffectiveTLDPlusOne(h); err == nil {
		return d
	}
	return h
}

// key is the isolation key of one stream: streams with equal keys may
// share circuits, streams with different ones never do. Fields are quoted
// so that no two different inputs give the same key.
func siteKey(host string, cred *credential) string {
	return "site|" + strconv.Quote(Site(host)) + cred.suffix()
}

func connKey(group uint64, cred *credential) string {
	if cred != nil {
		return "cred" + cred.suffix()
	}
	return "conn|" + strconv.FormatUint(group, 10)
}

// credential is what a client sent with RFC 1929 authentication.
type credential struct {
	user, pass string
}

// suffix keeps a client's own credentials in the key, so that the proxy
// never merges streams a client separated.
func (c *credential) suffix() string {
	if c == nil {
		return ""
	}
	return "|" + strconv.Quote(c.user) + "|" + strconv.Quote(c.pass)
}

// username turns a key into the SOCKS username sent to Tor: a prefix and
// 128 bits of HMAC-SHA256 under the server's secret, in hex. Hashing keeps
// destinations and client credentials out of Tor's control-port events
// and log, bounds the length, and makes a reserved username impossible.
func username(secret []byte, key string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(key))
	return usernamePrefix + hex.EncodeToString(m.Sum(nil)[:16])
}

package onionkey

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// ClientKeyBase32Len is the length of an x25519 key in base32, without
// padding.
const ClientKeyBase32Len = 52

// ClientKey is an x25519 client-authorization key pair of a v3 onion
// service: the service knows the public half (ADD_ONION ClientAuthV3=,
// authorized_clients/*.auth), the client holds the private half
// (ONION_CLIENT_AUTH_ADD, ClientOnionAuthDir/*.auth_private).
type ClientKey struct {
	priv *ecdh.PrivateKey
}

// GenerateClientKey returns a new random client-authorization key. Its
// private scalar is clamped, as Tor clamps the keys it makes.
func GenerateClientKey() (*ClientKey, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("generating client key: %w", err)
	}
	b[0] &= 248
	b[31] &= 127
	b[31] |= 64
	return newClientKey(b[:])
}

func newClientKey(b []byte) (*ClientKey, error) {
	p, err := ecdh.X25519().NewPrivateKey(b)
	if err != nil {
		return nil, errors.New("malformed client key")
	}
	return &ClientKey{priv: p}, nil
}

// PublicBase32 returns the public key in base32: 52 upper-case characters,
// no padding. This is what ADD_ONION ClientAuthV3= and the
// "descriptor:x25519:<key>" lines of authorized_clients/*.auth files take.
func (c *ClientKey) PublicBase32() string {
	return b32.EncodeToString(c.priv.PublicKey().Bytes())
}

// PublicBytes returns the 32-byte public key.
func (c *ClientKey) PublicBytes() []byte {
	return c.priv.PublicKey().Bytes()
}

// PrivateBase32 returns the private key in base32 (52 upper-case
// characters, no padding), as .auth_private files hold it. The result is
// secret.
func (c *ClientKey) PrivateBase32() string {
	return b32.EncodeToString(c.priv.Bytes())
}

// PrivateBase64 returns the private key in standard, padded base64 (44
// characters), as ONION_CLIENT_AUTH_ADD takes it after "x25519:". The
// result is secret.
func (c *ClientKey) PrivateBase64() string {
	return base64.StdEncoding.EncodeToString(c.priv.Bytes())
}

// ParseClientPrivateBase32 parses a private key in base32 (any case, no
// padding), as PrivateBase32 writes it.
func ParseClientPrivateBase32(s string) (*ClientKey, error) {
	if len(s) != ClientKeyBase32Len {
		return nil, errors.New("malformed client private key: wrong length")
	}
	b, err := b32.DecodeString(strings.ToUpper(s))
	if err != nil || len(b) != 32 {
		return nil, errors.New("malformed client private key: invalid base32")
	}
	return newClientKey(b)
}

// ParseClientPrivateBase64 parses a private key in standard base64, as
// PrivateBase64 writes it (and ONION_CLIENT_AUTH_VIEW returns it).
func ParseClientPrivateBase64(s string) (*ClientKey, error) {
	if len(s) != base64.StdEncoding.EncodedLen(32) {
		return nil, errors.New("malformed client private key: wrong length")
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, errors.New("malformed client private key: invalid base64")
	}
	return newClientKey(b)
}

// ValidClientPublicBase32 reports whether s is an x25519 public key in
// base32 (52 characters, upper case, no padding), as ClientAuthV3= takes it.
func ValidClientPublicBase32(s string) bool {
	if len(s) != ClientKeyBase32Len || strings.ToUpper(s) != s {
		return false
	}
	b, err := b32.DecodeString(s)
	return err == nil && len(b) == 32
}

// AuthPrivateLine returns the line Tor reads from a
// ClientOnionAuthDir/*.auth_private file for this key and the service at
// address (with or without ".onion"):
// "<address>:descriptor:x25519:<PrivateBase32>". The result is secret.
func (c *ClientKey) AuthPrivateLine(address string) string {
	address = strings.TrimSuffix(strings.ToLower(address), ".onion")
	return address + ":descriptor:x25519:" + c.PrivateBase32()
}

// ParseAuthPrivateLine parses a line of a .auth_private file (surrounding
// white space ignored) and returns the service's address (lower case,
// without ".onion") and the client key.
func ParseAuthPrivateLine(line string) (address string, key *ClientKey, err error) {
	f := strings.Split(strings.TrimSpace(line), ":")
	if len(f) != 4 {
		return "", nil, errors.New("malformed auth_private line: want <address>:descriptor:x25519:<key>")
	}
	address, err = NormalizeAddress(f[0])
	if err != nil {
		return "", nil, fmt.Errorf("malformed auth_private line: %w", err)
	}
	if f[1] != "descriptor" {
		return "", nil, errors.New("malformed auth_private line: auth type is not \"descriptor\"")
	}
	if f[2] != "x25519" {
		return "", nil, errors.New("malformed auth_private line: key type is not \"x25519\"")
	}
	key, err = ParseClientPrivateBase32(f[3])
	if err != nil {
		return "", nil, fmt.Errorf("malformed auth_private line: %w", err)
	}
	return address, key, nil
}

// String returns "ClientKey(<PublicBase32>)", never the private key.
func (c *ClientKey) String() string {
	if c == nil || c.priv == nil {
		return "ClientKey(nil)"
	}
	return "ClientKey(" + c.PublicBase32() + ")"
}

// LogValue makes slog show the same as String, never the private key.
func (c *ClientKey) LogValue() slog.Value {
	return slog.StringValue(c.String())
}

// Format makes every fmt verb show String, so no formatting directive can
// print the private key.
func (c *ClientKey) Format(f fmt.State, verb rune) {
	fmt.Fprint(f, c.String())
}

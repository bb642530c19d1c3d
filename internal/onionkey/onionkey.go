// Package onionkey holds the keys of Tor v3 onion services and of their
// clients (client authorization), and converts them between the encodings
// Tor uses: the onion address, the ADD_ONION key blob, the
// hs_ed25519_secret_key file, the base32 and base64 forms of x25519 client
// keys and the lines of ClientOnionAuthDir/*.auth_private files.
//
// Tor keeps an onion service's ed25519 secret key in its *expanded* form:
// the 64-byte SHA-512 of the seed, with the first half clamped into a
// scalar. The seed itself is gone, so crypto/ed25519, which derives keys only
// from a seed, cannot load these keys. The package therefore uses
// filippo.io/edwards25519 (by the author of Go's own ed25519 code) for the
// one operation it needs: multiplying the base point by the secret scalar to
// get the public key. Client-authorization keys are plain X25519 keys and use
// crypto/ecdh.
//
// Types that hold secrets redact themselves in String and LogValue, and have
// no MarshalText/MarshalJSON: writing a secret out takes an explicit call
// (TorBlob, SecretKeyFile, PrivateBase32, ...). Errors about malformed
// secret material never quote the input.
package onionkey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"filippo.io/edwards25519"
)

// AddressLen is the length of a v3 onion address without ".onion".
const AddressLen = 56

// ServiceKeyType is the key type prefix of Tor's ADD_ONION key blobs.
const ServiceKeyType = "ED25519-V3"

// secretFileHeader is the 32-byte header of Tor's hs_ed25519_secret_key
// file: this text, padded with NUL bytes.
const secretFileHeader = "== ed25519v1-secret: type0 =="

const secretFileHeaderLen = 32

// b32 is the RFC 4648 base32 alphabet without padding, as Tor uses it.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// ServiceKey is the secret key of a v3 onion service: Tor's 64-byte
// expanded ed25519 secret key. Its zero value is not a valid key; get one
// from GenerateServiceKey or one of the Parse functions.
type ServiceKey struct {
	expanded [64]byte
	pub      ed25519.PublicKey
}

// GenerateServiceKey returns a new random onion service key, made the way
// Tor makes one: a random 32-byte seed, hashed with SHA-512, the first half
// clamped.
func GenerateServiceKey() (*ServiceKey, error) {
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("generating onion service key: %w", err)
	}
	h := sha512.Sum512(seed[:])
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	return newServiceKey(h[:])
}

// newServiceKey checks an expanded key and derives its public key.
func newServiceKey(expanded []byte) (*ServiceKey, error) {
	if len(expanded) != 64 {
		return nil, errors.New("malformed onion service key: wrong length")
	}
	// A Tor expanded key's scalar half is always clamped; anything else is
	// not a key Tor made (or it is corrupted).
	if expanded[0]&7 != 0 || expanded[31]&128 != 0 || expanded[31]&64 == 0 {
		return nil, errors.New("malformed onion service key: not a clamped ed25519 scalar")
	}
	s, err := edwards25519.NewScalar().SetBytesWithClamping(expanded[:32])
	if err != nil {
		return nil, errors.New("malformed onion service key")
	}
	k := &ServiceKey{}
	copy(k.expanded[:], expanded)
	k.pub = ed25519.PublicKey(new(edwards25519.Point).ScalarBaseMult(s).Bytes())
	return k, nil
}

// PublicKey returns the service's ed25519 public key (a copy).
func (k *ServiceKey) PublicKey() ed25519.PublicKey {
	return bytes.Clone(k.pub)
}

// Address returns the service's v3 onion address: 56 lower-case characters,
// without ".onion".
func (k *ServiceKey) Address() string {
	return AddressFromPublicKey(k.pub)
}

// TorBlob returns the key as ADD_ONION takes it and returns it:
// "ED25519-V3:" followed by the standard, padded base64 of the 64-byte
// expanded key. The result is secret.
func (k *ServiceKey) TorBlob() string {
	return ServiceKeyType + ":" + base64.StdEncoding.EncodeToString(k.expanded[:])
}

// ParseTorBlob parses a key in ADD_ONION form, with or without the
// "ED25519-V3:" prefix.
func ParseTorBlob(s string) (*ServiceKey, error) {
	s = strings.TrimPrefix(s, ServiceKeyType+":")
	if len(s) != base64.StdEncoding.EncodedLen(64) {
		return nil, errors.New("malformed onion service key blob: wrong length")
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errors.New("malformed onion service key blob: invalid base64")
	}
	return newServiceKey(b)
}

// SecretKeyFile returns the contents of Tor's hs_ed25519_secret_key file
// for this key: a 32-byte header ("== ed25519v1-secret: type0 ==" padded
// with NUL bytes) followed by the 64-byte expanded key. The result is
// secret: write it with mode 0600.
func (k *ServiceKey) SecretKeyFile() []byte {
	b := make([]byte, secretFileHeaderLen, secretFileHeaderLen+64)
	copy(b, secretFileHeader)
	return append(b, k.expanded[:]...)
}

// ParseSecretKeyFile parses the contents of Tor's hs_ed25519_secret_key
// file.
func ParseSecretKeyFile(b []byte) (*ServiceKey, error) {
	if len(b) != secretFileHeaderLen+64 {
		return nil, errors.New("malformed onion service key file: wrong length")
	}
	var hdr [secretFileHeaderLen]byte
	copy(hdr[:], secretFileHeader)
	if !bytes.Equal(b[:secretFileHeaderLen], hdr[:]) {
		return nil, errors.New("malformed onion service key file: not an ed25519v1-secret type0 file")
	}
	return newServiceKey(b[secretFileHeaderLen:])
}

// String returns "ServiceKey(<address>)", never the secret.
func (k *ServiceKey) String() string {
	if k == nil {
		return "ServiceKey(nil)"
	}
	return "ServiceKey(" + k.Address() + ")"
}

// LogValue makes slog show the same as String, never the secret.
func (k *ServiceKey) LogValue() slog.Value {
	return slog.StringValue(k.String())
}

// Format makes every fmt verb (%v, %+v, %#v, %x, ...) show String, so no
// formatting directive can print the secret.
func (k *ServiceKey) Format(f fmt.State, verb rune) {
	fmt.Fprint(f, k.String())
}

// checksum returns the two checksum bytes of a v3 address:
// SHA3-256(".onion checksum" || pubkey || version)[:2].
func checksum(pub []byte) [2]byte {
	h := sha3.New256()
	h.Write([]byte(".onion checksum"))
	h.Write(pub)
	h.Write([]byte{3})
	var sum [2]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// AddressFromPublicKey returns the v3 onion address (56 lower-case
// characters, without ".onion") of an ed25519 public key:
// base32(pubkey || checksum || 0x03).
func AddressFromPublicKey(pub ed25519.PublicKey) string {
	c := checksum(pub)
	b := make([]byte, 0, 35)
	b = append(b, pub...)
	b = append(b, c[0], c[1], 3)
	return strings.ToLower(b32.EncodeToString(b))
}

// ParseAddress checks a v3 onion address, with or without ".onion", in any
// case, and returns its public key. It checks the length, the base32
// encoding, the version byte and the checksum.
func ParseAddress(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSuffix(strings.ToLower(s), ".onion")
	if len(s) != AddressLen {
		return nil, fmt.Errorf("invalid onion address: want %d characters before .onion, got %d", AddressLen, len(s))
	}
	b, err := b32.DecodeString(strings.ToUpper(s))
	if err != nil || len(b) != 35 {
		return nil, errors.New("invalid onion address: not base32")
	}
	if b[34] != 3 {
		return nil, fmt.Errorf("invalid onion address: version %d, want 3", b[34])
	}
	pub := ed25519.PublicKey(b[:32])
	if c := checksum(pub); c[0] != b[32] || c[1] != b[33] {
		return nil, errors.New("invalid onion address: bad checksum")
	}
	return pub, nil
}

// ValidAddress reports whether s is a valid v3 onion address, with or
// without ".onion".
func ValidAddress(s string) bool {
	_, err := ParseAddress(s)
	return err == nil
}

// NormalizeAddress returns a valid v3 onion address in its canonical form:
// lower case, without ".onion".
func NormalizeAddress(s string) (string, error) {
	if _, err := ParseAddress(s); err != nil {
		return "", err
	}
	return strings.TrimSuffix(strings.ToLower(s), ".onion"), nil
}

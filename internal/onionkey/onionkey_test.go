package onionkey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
)

// The testdata files were written by tor 0.4.9.11 itself (a HiddenServiceDir
// in a torrc with DisableNetwork 1): the key, the public key file and the
// hostname tor derived from it.
func loadVector(t *testing.T) (secret, public []byte, hostname string) {
	t.Helper()
	var err error
	secret, err = os.ReadFile("testdata/hs_ed25519_secret_key")
	if err != nil {
		t.Fatal(err)
	}
	public, err = os.ReadFile("testdata/hs_ed25519_public_key")
	if err != nil {
		t.Fatal(err)
	}
	h, err := os.ReadFile("testdata/hostname")
	if err != nil {
		t.Fatal(err)
	}
	return secret, public, strings.TrimSpace(string(h))
}

func TestTorVector(t *testing.T) {
	secret, public, hostname := loadVector(t)
	k, err := ParseSecretKeyFile(secret)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Address() + ".onion"; got != hostname {
		t.Errorf("Address() = %s, tor's hostname = %s", got, hostname)
	}
	if !bytes.Equal(k.PublicKey(), public[32:]) {
		t.Errorf("PublicKey() differs from tor's hs_ed25519_public_key")
	}
	if !bytes.Equal(k.SecretKeyFile(), secret) {
		t.Errorf("SecretKeyFile() does not reproduce tor's file")
	}
	pub, err := ParseAddress(hostname)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub, public[32:]) {
		t.Errorf("ParseAddress(hostname) differs from tor's public key")
	}
}

func TestServiceKeyRoundTrip(t *testing.T) {
	k, err := GenerateServiceKey()
	if err != nil {
		t.Fatal(err)
	}
	addr := k.Address()
	if len(addr) != AddressLen || strings.ToLower(addr) != addr {
		t.Fatalf("Address() = %q", addr)
	}
	if !ValidAddress(addr) || !ValidAddress(strings.ToUpper(addr)+".onion") {
		t.Errorf("ValidAddress(%q) = false", addr)
	}
	blob := k.TorBlob()
	if !strings.HasPrefix(blob, "ED25519-V3:") || len(blob) != len("ED25519-V3:")+88 {
		t.Errorf("TorBlob() has the wrong shape: %d chars", len(blob))
	}
	for _, s := range []string{blob, strings.TrimPrefix(blob, "ED25519-V3:")} {
		k2, err := ParseTorBlob(s)
		if err != nil {
			t.Fatal(err)
		}
		if k2.Address() != addr || k2.TorBlob() != blob {
			t.Errorf("ParseTorBlob round trip changed the key")
		}
	}
	k3, err := ParseSecretKeyFile(k.SecretKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	if k3.Address() != addr {
		t.Errorf("ParseSecretKeyFile round trip changed the key")
	}
	if AddressFromPublicKey(k.PublicKey()) != addr {
		t.Errorf("AddressFromPublicKey disagrees with Address")
	}
}

// A key made from a seed must give the same public key as crypto/ed25519
// gives for that seed, and signatures made by crypto/ed25519 must verify.
func TestServiceKeyMatchesCryptoEd25519(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, 32)
	h := sha512.Sum512(seed)
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	k, err := newServiceKey(h[:])
	if err != nil {
		t.Fatal(err)
	}
	want := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	if !bytes.Equal(k.PublicKey(), want) {
		t.Errorf("public key from the expanded key differs from crypto/ed25519's")
	}
}

func TestParseAddressErrors(t *testing.T) {
	_, _, hostname := loadVector(t)
	good := strings.TrimSuffix(hostname, ".onion")
	flip := []byte(good)
	if flip[10] == 'a' {
		flip[10] = 'b'
	} else {
		flip[10] = 'a'
	}
	v2 := []byte(good)
	v2[55] = 'a' // changes the version bits
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "56 characters"},
		{"short", good[:55], "56 characters"},
		{"long", good + "a", "56 characters"},
		{"not base32", good[:55] + "1", "not base32"},
		{"checksum", string(flip), "checksum"},
		{"version", string(v2), "version"},
		{"v2 address", "expyuzz4wqqyqhjn.onion", "56 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAddress(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseAddress(%q) = %v, want error containing %q", tc.in, err, tc.want)
			}
			if ValidAddress(tc.in) {
				t.Errorf("ValidAddress(%q) = true", tc.in)
			}
		})
	}
	for _, s := range []string{good, good + ".onion", strings.ToUpper(good), strings.ToUpper(good) + ".ONION"} {
		if !ValidAddress(s) {
			t.Errorf("ValidAddress(%q) = false", s)
		}
		if n, err := NormalizeAddress(s); err != nil || n != good {
			t.Errorf("NormalizeAddress(%q) = %q, %v", s, n, err)
		}
	}
}

func TestParseSecretErrorsDoNotEchoInput(t *testing.T) {
	secret, _, _ := loadVector(t)
	k, _ := ParseSecretKeyFile(secret)
	blob := k.TorBlob()
	b64 := strings.TrimPrefix(blob, "ED25519-V3:")
	unclamped := append([]byte(nil), secret...)
	unclamped[32] |= 7
	badHeader := append([]byte(nil), secret...)
	badHeader[3] = 'X'
	check := func(name string, err error, secrets ...string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		for _, s := range secrets {
			if len(s) > 8 && strings.Contains(err.Error(), s[:8]) {
				t.Errorf("%s: error echoes the input: %v", name, err)
			}
		}
	}
	_, err := ParseTorBlob(b64[:80])
	check("short blob", err, b64)
	_, err = ParseTorBlob("ED25519-V3:" + b64[:86] + "!!")
	check("bad base64", err, b64)
	_, err = ParseTorBlob("RSA1024:" + b64)
	check("wrong type", err, b64)
	_, err = ParseSecretKeyFile(secret[:95])
	check("short file", err)
	_, err = ParseSecretKeyFile(badHeader)
	check("bad header", err)
	_, err = ParseSecretKeyFile(unclamped)
	check("unclamped", err)

	c, _ := GenerateClientKey()
	p32, p64 := c.PrivateBase32(), c.PrivateBase64()
	_, err = ParseClientPrivateBase32(p32[:51])
	check("short base32", err, p32)
	_, err = ParseClientPrivateBase32(p32[:51] + "1")
	check("bad base32", err, p32)
	_, err = ParseClientPrivateBase64(p64[:43])
	check("short base64", err, p64)
	_, err = ParseClientPrivateBase64(p64[:42] + "!=")
	check("bad base64", err, p64)
	line := c.AuthPrivateLine(k.Address())
	for _, bad := range []string{
		strings.Replace(line, "descriptor", "desc", 1),
		strings.Replace(line, "x25519", "x448", 1),
		line[:len(line)-1],
		line + ":extra",
		"abc:" + line[57:],
	} {
		_, _, err = ParseAuthPrivateLine(bad)
		check("auth line", err, p32)
	}
}

func TestClientKeyRoundTrip(t *testing.T) {
	c, err := GenerateClientKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := c.PublicBase32()
	if len(pub) != 52 || strings.ToUpper(pub) != pub || !ValidClientPublicBase32(pub) {
		t.Fatalf("PublicBase32() = %q", pub)
	}
	if ValidClientPublicBase32(strings.ToLower(pub)) || ValidClientPublicBase32(pub[:51]) || ValidClientPublicBase32(pub+"=") {
		t.Errorf("ValidClientPublicBase32 accepts malformed keys")
	}
	if len(c.PrivateBase32()) != 52 || len(c.PrivateBase64()) != 44 {
		t.Fatalf("private encodings have the wrong length")
	}
	c2, err := ParseClientPrivateBase32(c.PrivateBase32())
	if err != nil {
		t.Fatal(err)
	}
	c3, err := ParseClientPrivateBase64(c.PrivateBase64())
	if err != nil {
		t.Fatal(err)
	}
	c4, err := ParseClientPrivateBase32(strings.ToLower(c.PrivateBase32()))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*ClientKey{c2, c3, c4} {
		if x.PublicBase32() != pub || x.PrivateBase64() != c.PrivateBase64() {
			t.Errorf("round trip changed the key")
		}
	}

	s, _ := GenerateServiceKey()
	line := c.AuthPrivateLine(s.Address() + ".onion")
	want := s.Address() + ":descriptor:x25519:" + c.PrivateBase32()
	if line != want {
		t.Fatalf("AuthPrivateLine = %q, want %q", line, want)
	}
	addr, c5, err := ParseAuthPrivateLine("  " + line + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if addr != s.Address() || c5.PrivateBase32() != c.PrivateBase32() {
		t.Errorf("ParseAuthPrivateLine round trip changed the line")
	}
}

// Known-answer test for the client key encodings: the X25519 test vector of
// RFC 7748 section 6.1 (Alice's keys).
func TestClientKeyRFC7748(t *testing.T) {
	const privHex = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
	const pubHex = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
	var priv []byte
	fmt.Sscanf(privHex, "%x", &priv)
	c, err := newClientKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%x", c.PublicBytes()); got != pubHex {
		t.Errorf("public key = %s, want %s", got, pubHex)
	}
}

func TestRedaction(t *testing.T) {
	k, _ := GenerateServiceKey()
	c, _ := GenerateClientKey()
	blob := strings.TrimPrefix(k.TorBlob(), "ED25519-V3:")
	var logbuf bytes.Buffer
	slog.New(slog.NewTextHandler(&logbuf, nil)).Info("keys", "service", k, "client", c)
	slog.New(slog.NewJSONHandler(&logbuf, nil)).Info("keys", "service", k, "client", c)
	js, _ := json.Marshal(struct {
		K *ServiceKey
		C *ClientKey
	}{k, c})
	outs := []string{
		k.String(), c.String(), logbuf.String(), string(js),
		fmt.Sprintf("%v %+v %#v %s %x %q", k, k, k, k, k, k),
		fmt.Sprintf("%v %+v %#v %s %x %q", c, c, c, c, c, c),
		fmt.Sprintf("%v", struct{ K *ServiceKey }{k}),
	}
	for _, out := range outs {
		for _, secret := range []string{blob[:16], c.PrivateBase32()[:16], c.PrivateBase64()[:16]} {
			if strings.Contains(out, secret) {
				t.Errorf("output shows a secret: %s", out)
			}
		}
	}
	if k.String() != "ServiceKey("+k.Address()+")" {
		t.Errorf("String() = %q", k.String())
	}
	if c.String() != "ClientKey("+c.PublicBase32()+")" {
		t.Errorf("String() = %q", c.String())
	}
}

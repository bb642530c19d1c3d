package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"tails-server/internal/onionkey"
)

// sample writes an archive of one service with a key, a record, a
// folder, a symlink and a file of n bytes.
func sample(t testing.TB, n int, r age.Recipient, mutate func(*Header)) ([]byte, *onionkey.ServiceKey) {
	t.Helper()
	k, err := onionkey.GenerateServiceKey()
	if err != nil {
		t.Fatal(err)
	}
	h := Header{Kind: KindService, Services: []Service{{Name: "web", Address: k.Address(), Dir: "services/web", Key: "services/web/hs_ed25519_secret_key"}}}
	if mutate != nil {
		mutate(&h)
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, h, r)
	if err != nil {
		t.Fatal(err)
	}
	key := k.SecretKeyFile()
	data := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
	steps := []error{
		w.Dir("services", 0o711),
		w.Dir("services/web", 0o711),
		w.File("services/web/hs_ed25519_secret_key", 0o600, int64(len(key)), bytes.NewReader(key)),
		w.File("services/web/service.json", 0o600, 2, strings.NewReader("{}")),
		w.Dir("services/web/data", 0o755),
		w.Symlink("services/web/data/link", "../elsewhere"),
		w.File("services/web/data/big", 0o644, int64(n), bytes.NewReader(data)),
		w.Close(),
	}
	for _, err := range steps {
		if err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes(), k
}

func x25519(t testing.TB) *age.X25519Identity {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func extract(t testing.TB, b []byte, ids ...age.Identity) (*Header, error) {
	dir := t.TempDir()
	h, _, err := Extract(bytes.NewReader(b), dir, Limits{}, ids...)
	return h, err
}

func TestRoundTrip(t *testing.T) {
	id := x25519(t)
	b, k := sample(t, 200_000, id.Recipient(), nil)
	dir := t.TempDir()
	h, m, err := Extract(bytes.NewReader(b), dir, Limits{}, id)
	if err != nil {
		t.Fatal(err)
	}
	if h.Format != Format || h.Services[0].Address != k.Address() || h.Created.IsZero() {
		t.Errorf("header %+v", h)
	}
	if len(m.Entries) != 8 {
		t.Errorf("manifest has %d entries, want 8", len(m.Entries))
	}
	got, err := os.ReadFile(filepath.Join(dir, "services/web/data/big"))
	if err != nil || len(got) != 200_000 {
		t.Fatalf("big: %d bytes, %v", len(got), err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "services/web/data/link")); err != nil || l != "../elsewhere" {
		t.Errorf("link %q %v", l, err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "services/web/hs_ed25519_secret_key"))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", fi.Mode())
	}
}

func TestPassphrase(t *testing.T) {
	r, err := age.NewScryptRecipient("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10)
	b, _ := sample(t, 1000, r, nil)
	good, _ := PassphraseIdentity("correct horse")
	if _, err := extract(t, b, good); err != nil {
		t.Fatal(err)
	}
	bad, _ := PassphraseIdentity("wrong horse")
	if _, err := extract(t, b, bad); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("wrong passphrase: %v, want ErrWrongKey", err)
	}
	if _, err := extract(t, b, x25519(t)); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("other identity: %v, want ErrWrongKey", err)
	}
}

// TestTampered: one byte changed anywhere (the age header, the first
// chunk, the middle, the last chunk with the manifest) is refused.
func TestTampered(t *testing.T) {
	id := x25519(t)
	b, _ := sample(t, 300_000, id.Recipient(), nil)
	for _, at := range []int{10, 100, 300, len(b) / 3, len(b) / 2, len(b) - 100, len(b) - 1} {
		c := bytes.Clone(b)
		c[at] ^= 0x01
		if _, err := extract(t, c, id); err == nil {
			t.Errorf("byte %d of %d changed: accepted", at, len(b))
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("error of more than one line: %q", err)
		}
	}
}

func TestTruncated(t *testing.T) {
	id := x25519(t)
	b, _ := sample(t, 300_000, id.Recipient(), nil)
	for _, n := range []int{0, 20, 200, 64 * 1024, len(b) / 2, len(b) - 64*1024, len(b) - 17, len(b) - 1} {
		_, err := extract(t, b[:n], id)
		if err == nil {
			t.Errorf("cut at %d of %d: accepted", n, len(b))
		} else if !errors.Is(err, ErrRefused) {
			t.Errorf("cut at %d: %v, want ErrRefused", n, err)
		}
	}
}

func TestScryptWorkCapped(t *testing.T) {
	// An archive whose stanza asks for more work than the cap: the
	// daemon refuses before it computes anything (writing one for
	// real would take the test that work).
	r, _ := age.NewScryptRecipient("pass")
	r.SetWorkFactor(10)
	b, _ := sample(t, 10, r, nil)
	greedy := bytes.Replace(b, []byte(" 10\n"), []byte(fmt.Sprintf(" %d\n", MaxScryptWorkFactor+1)), 1)
	id, _ := PassphraseIdentity("pass")
	if _, err := extract(t, greedy, id); err == nil || !strings.Contains(err.Error(), "scrypt work") {
		t.Fatalf("got %v", err)
	}
}

func TestNewerFormat(t *testing.T) {
	id := x25519(t)
	raw := newerArchive(t, id.Recipient())
	_, err := extract(t, raw, id)
	want := "archive format 2 is newer than this tails-server (1): upgrade tails-server"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// newerArchive is an archive whose header says format 2.
func newerArchive(t *testing.T, r age.Recipient) []byte {
	var buf bytes.Buffer
	enc, err := age.Encrypt(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(enc)
	h := []byte(`{"format": 2, "kind": "teleport"}`)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: HeaderName, Size: int64(len(h)), Mode: 0o600})
	tw.Write(h)
	tw.Close()
	enc.Close()
	return buf.Bytes()
}

func TestKeyNotMatchingAddress(t *testing.T) {
	id := x25519(t)
	other, _ := onionkey.GenerateServiceKey()
	b, _ := sample(t, 10, id.Recipient(), func(h *Header) { h.Services[0].Address = other.Address() })
	_, err := extract(t, b, id)
	if err == nil || !strings.Contains(err.Error(), "is not the key of "+other.Address()) {
		t.Fatalf("got %v", err)
	}
}

func TestNotAnArchive(t *testing.T) {
	if _, err := extract(t, []byte("hello\n"), x25519(t)); !errors.Is(err, ErrRefused) {
		t.Fatalf("got %v", err)
	}
}

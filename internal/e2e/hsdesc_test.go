package e2e

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha3"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"tails-server/internal/onionkey"
)

// hsDesc is a v3 onion-service descriptor as a client sees it, both
// encrypted layers opened (rend-spec-v3, "Encryption Keys And Nonces").
type hsDesc struct {
	Revision uint64 // revision-counter of the outer layer
	Inner    string // the second layer's plaintext: create2-formats, pow-params, introduction points
}

// openHSDesc decrypts the descriptor text desc (an HS_DESC_CONTENT
// event's data) of the onion service at address, published without
// client authorization (no descriptor cookie: the second layer's secret
// is the blinded key alone). Each layer's MAC is checked, so keys derived
// wrongly fail rather than yield garbage. The blinded key is taken from
// the descriptor-signing-key-cert's signed-with-key extension.
func openHSDesc(address, desc string) (*hsDesc, error) {
	identity, err := onionkey.ParseAddress(address)
	if err != nil {
		return nil, err
	}
	var d hsDesc
	for l := range strings.SplitSeq(desc, "\n") {
		if v, ok := strings.CutPrefix(l, "revision-counter "); ok {
			if d.Revision, err = strconv.ParseUint(strings.TrimSpace(v), 10, 64); err != nil {
				return nil, fmt.Errorf("malformed revision-counter")
			}
		}
	}
	cert, err := descBlock(desc, "descriptor-signing-key-cert", "ED25519 CERT")
	if err != nil {
		return nil, err
	}
	blinded, err := certSigningKey(cert)
	if err != nil {
		return nil, err
	}
	h := sha3.New256()
	h.Write([]byte("credential"))
	h.Write(identity)
	credential := h.Sum(nil)
	h = sha3.New256()
	h.Write([]byte("subcredential"))
	h.Write(credential)
	h.Write(blinded)
	subcredential := h.Sum(nil)

	outer, err := descBlock(desc, "superencrypted", "MESSAGE")
	if err != nil {
		return nil, err
	}
	first, err := descLayer(outer, blinded, subcredential, d.Revision, "hsdir-superencrypted-data")
	if err != nil {
		return nil, fmt.Errorf("first layer: %w", err)
	}
	inner, err := descBlock(string(first), "encrypted", "MESSAGE")
	if err != nil {
		return nil, fmt.Errorf("first layer: %w", err)
	}
	second, err := descLayer(inner, blinded, subcredential, d.Revision, "hsdir-encrypted-data")
	if err != nil {
		return nil, fmt.Errorf("second layer: %w", err)
	}
	d.Inner = string(bytes.TrimRight(second, "\x00"))
	return &d, nil
}

// descBlock returns the decoded base64 block labelled label that follows
// the line keyword.
func descBlock(text, keyword, label string) ([]byte, error) {
	begin, end := "-----BEGIN "+label+"-----", "-----END "+label+"-----"
	k := keyword + "\n" + begin
	i := strings.Index("\n"+text, "\n"+k)
	if i < 0 {
		return nil, fmt.Errorf("no %s block", keyword)
	}
	rest := text[i+len(k):]
	j := strings.Index(rest, end)
	if j < 0 {
		return nil, fmt.Errorf("unterminated %s block", keyword)
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(rest[:j]), ""))
	if err != nil {
		return nil, fmt.Errorf("malformed %s block", keyword)
	}
	return b, nil
}

// certSigningKey returns the key of an ed25519 certificate's
// signed-with-key extension (type 4; cert-spec section 2.2.1).
func certSigningKey(c []byte) ([]byte, error) {
	if len(c) < 40 || c[0] != 1 {
		return nil, errors.New("malformed ed25519 cert")
	}
	n, p := int(c[39]), 40
	for range n {
		if len(c) < p+4 {
			return nil, errors.New("malformed ed25519 cert extension")
		}
		l, typ := int(binary.BigEndian.Uint16(c[p:])), c[p+2]
		p += 4
		if len(c) < p+l {
			return nil, errors.New("malformed ed25519 cert extension")
		}
		if typ == 4 && l == 32 {
			return c[p : p+32], nil
		}
		p += l
	}
	return nil, errors.New("ed25519 cert without its signing key")
}

// descLayer opens one encrypted layer: salt (16) | ciphertext | MAC (32);
// keys = SHAKE256(secret | subcredential | INT_8(revision) | salt |
// constant), 32 bytes of AES-256-CTR key, 16 of IV, 32 of MAC key; MAC =
// SHA3-256(INT_8(32) | mac key | INT_8(16) | salt | ciphertext).
func descLayer(blob, secret, subcredential []byte, revision uint64, constant string) ([]byte, error) {
	if len(blob) < 16+32 {
		return nil, errors.New("too short")
	}
	salt, ct, mac := blob[:16], blob[16:len(blob)-32], blob[len(blob)-32:]
	x := sha3.NewSHAKE256()
	x.Write(secret)
	x.Write(subcredential)
	x.Write(binary.BigEndian.AppendUint64(nil, revision))
	x.Write(salt)
	x.Write([]byte(constant))
	keys := make([]byte, 32+16+32)
	x.Read(keys)
	m := sha3.New256()
	m.Write(binary.BigEndian.AppendUint64(nil, 32))
	m.Write(keys[48:])
	m.Write(binary.BigEndian.AppendUint64(nil, 16))
	m.Write(salt)
	m.Write(ct)
	if subtle.ConstantTimeCompare(m.Sum(nil), mac) != 1 {
		return nil, errors.New("MAC mismatch")
	}
	blk, err := aes.NewCipher(keys[:32])
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(ct))
	cipher.NewCTR(blk, keys[32:48]).XORKeyStream(out, ct)
	return out, nil
}

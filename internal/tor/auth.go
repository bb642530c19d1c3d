package tor

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// ProtocolInfo is tor's answer to PROTOCOLINFO.
type ProtocolInfo struct {
	AuthMethods []string // e.g. ["COOKIE", "SAFECOOKIE"], or ["NULL"]
	CookieFile  string   // the cookie file, when a cookie method is offered
	TorVersion  string   // e.g. "0.4.9.11"
}

// ProtocolInfo asks tor which authentication methods it accepts and which
// version it is. Tor answers PROTOCOLINFO only once before authentication,
// so the answer is kept and later calls return it.
func (c *Conn) ProtocolInfo(ctx context.Context) (*ProtocolInfo, error) {
	c.mu.Lock()
	pi := c.pinfo
	c.mu.Unlock()
	if pi != nil {
		return pi, nil
	}
	r, err := c.do(ctx, "PROTOCOLINFO 1")
	if err != nil {
		return nil, fmt.Errorf("tor: PROTOCOLINFO: %w", err)
	}
	pi, err = parseProtocolInfo(r)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.pinfo = pi
	c.mu.Unlock()
	return pi, nil
}

func parseProtocolInfo(r *reply) (*ProtocolInfo, error) {
	pi := &ProtocolInfo{}
	for _, l := range r.Lines {
		word, rest, _ := strings.Cut(l.Text, " ")
		switch word {
		case "AUTH":
			a, err := parseArgs(rest)
			if err != nil {
				return nil, fmt.Errorf("%w: PROTOCOLINFO AUTH line: %v", errProtocol, err)
			}
			kw := a.keywords()
			if m := kw["METHODS"]; m != "" {
				pi.AuthMethods = strings.Split(m, ",")
			}
			pi.CookieFile = kw["COOKIEFILE"]
		case "VERSION":
			a, err := parseArgs(rest)
			if err != nil {
				return nil, fmt.Errorf("%w: PROTOCOLINFO VERSION line: %v", errProtocol, err)
			}
			pi.TorVersion = a.keywords()["Tor"]
		}
	}
	if len(pi.AuthMethods) == 0 {
		return nil, fmt.Errorf("%w: PROTOCOLINFO lists no authentication method", errProtocol)
	}
	return pi, nil
}

// Key strings of SAFECOOKIE's HMACs (control-spec, AUTHCHALLENGE).
const (
	safeCookieServerKey = "Tor safe cookie authentication server-to-controller hash"
	safeCookieClientKey = "Tor safe cookie authentication controller-to-server hash"
)

// Authenticate authenticates the connection, choosing the method from
// PROTOCOLINFO: SAFECOOKIE (checking tor's proof that it knows the cookie
// too), then COOKIE, then HASHEDPASSWORD (only when password is not
// empty), then NULL. If the cookie file cannot be read and a password is
// given, the password is tried. Note that tor closes the connection after
// a failed AUTHENTICATE.
func (c *Conn) Authenticate(ctx context.Context, password string) error {
	if err := checkText("password", password); err != nil {
		return err
	}
	pi, err := c.ProtocolInfo(ctx)
	if err != nil {
		return err
	}
	has := func(m string) bool { return slices.Contains(pi.AuthMethods, m) }
	var cookieErr error
	if has("SAFECOOKIE") || has("COOKIE") {
		cookie, err := readCookie(pi.CookieFile)
		if err == nil {
			if has("SAFECOOKIE") {
				return c.authSafeCookie(ctx, cookie)
			}
			return c.authenticate(ctx, "AUTHENTICATE "+hex.EncodeToString(cookie))
		}
		cookieErr = err
	}
	if has("HASHEDPASSWORD") && password != "" {
		return c.authenticate(ctx, "AUTHENTICATE "+hex.EncodeToString([]byte(password)))
	}
	if has("NULL") {
		return c.authenticate(ctx, "AUTHENTICATE")
	}
	if cookieErr != nil {
		return cookieErr
	}
	if has("HASHEDPASSWORD") {
		return errors.New("tor: authentication needs a password (tor offers only HASHEDPASSWORD)")
	}
	return fmt.Errorf("tor: no supported authentication method among %s", strings.Join(pi.AuthMethods, ","))
}

func (c *Conn) authenticate(ctx context.Context, line string) error {
	if _, err := c.do(ctx, line); err != nil {
		return fmt.Errorf("tor: authentication failed: %w", err)
	}
	return nil
}

// readCookie reads the 32-byte control cookie.
func readCookie(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("tor: cookie authentication offered without a cookie file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tor: reading the control cookie: %w", err)
	}
	defer f.Close()
	b := make([]byte, 33)
	n, _ := f.Read(b)
	if n != 32 {
		return nil, fmt.Errorf("tor: control cookie %s is not 32 bytes", path)
	}
	return b[:32], nil
}

func (c *Conn) authSafeCookie(ctx context.Context, cookie []byte) error {
	clientNonce := make([]byte, 32)
	if _, err := rand.Read(clientNonce); err != nil {
		return err
	}
	r, err := c.do(ctx, "AUTHCHALLENGE SAFECOOKIE "+hex.EncodeToString(clientNonce))
	if err != nil {
		return fmt.Errorf("tor: AUTHCHALLENGE: %w", err)
	}
	word, rest, _ := strings.Cut(r.Lines[0].Text, " ")
	a, err := parseArgs(rest)
	if word != "AUTHCHALLENGE" || err != nil {
		return fmt.Errorf("%w: AUTHCHALLENGE reply", errProtocol)
	}
	kw := a.keywords()
	serverHash, err1 := hex.DecodeString(kw["SERVERHASH"])
	serverNonce, err2 := hex.DecodeString(kw["SERVERNONCE"])
	if err1 != nil || err2 != nil || len(serverHash) != sha256.Size || len(serverNonce) != 32 {
		return fmt.Errorf("%w: AUTHCHALLENGE reply", errProtocol)
	}
	mac := func(key string) []byte {
		h := hmac.New(sha256.New, []byte(key))
		h.Write(cookie)
		h.Write(clientNonce)
		h.Write(serverNonce)
		return h.Sum(nil)
	}
	if !hmac.Equal(mac(safeCookieServerKey), serverHash) {
		c.Close()
		return errors.New("tor: SAFECOOKIE: the server does not know the cookie (wrong cookie file, or not the tor we expect)")
	}
	return c.authenticate(ctx, "AUTHENTICATE "+hex.EncodeToString(mac(safeCookieClientKey)))
}

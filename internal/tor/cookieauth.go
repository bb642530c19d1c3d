package tor

import (
	"context"
	"encoding/hex"
	"slices"
)

// AuthenticateCookie authenticates with the cookie in the file at path
// (for a tor whose PROTOCOLINFO names a cookie file this process reads
// under another path): SAFECOOKIE when tor offers it, else COOKIE.
func (c *Conn) AuthenticateCookie(ctx context.Context, path string) error {
	cookie, err := readCookie(path)
	if err != nil {
		return err
	}
	pi, err := c.ProtocolInfo(ctx)
	if err != nil {
		return err
	}
	if slices.Contains(pi.AuthMethods, "SAFECOOKIE") {
		return c.authSafeCookie(ctx, cookie)
	}
	return c.authenticate(ctx, "AUTHENTICATE "+hex.EncodeToString(cookie))
}

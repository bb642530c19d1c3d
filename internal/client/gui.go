package client

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"tails-server/internal/apitype"
)

// GUILogin asks the daemon for a fresh one-time login token of its GUI,
// minted for this process's uid.
func (c *Client) GUILogin(ctx context.Context) (apitype.GUILogin, error) {
	var l apitype.GUILogin
	return l, c.do(ctx, http.MethodPost, "/gui/login", struct{}{}, &l)
}

// MaxIconSize bounds the icon Icon reads (the catalog allows 64 KiB).
const MaxIconSize = 64 << 10

// Icon returns a service's SVG icon; a *Error with Status 404 when the
// service has none.
func (c *Client) Icon(ctx context.Context, name string) ([]byte, error) {
	if err := c.precheck(); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+apitype.Host+apitype.Version+svcPath(name, "icon"), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.connErr(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxIconSize+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &Error{Status: resp.StatusCode, Msg: fmt.Sprintf("no icon for %s (%s)", name, resp.Status)}
	}
	if len(b) > MaxIconSize {
		return nil, fmt.Errorf("icon of %s larger than %d bytes", name, MaxIconSize)
	}
	return b, nil
}

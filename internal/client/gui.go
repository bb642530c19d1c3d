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
	b, resp, err := c.getRaw(ctx, apitype.Version+svcPath(name, "icon"), MaxIconSize)
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

// getRaw GETs path (under the API's host) and reads at most max+1 bytes
// of the answer: more than max means too large.
func (c *Client) getRaw(ctx context.Context, path string, max int64) ([]byte, *http.Response, error) {
	if err := c.precheck(); err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+apitype.Host+path, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, c.connErr(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, nil, err
	}
	return b, resp, nil
}

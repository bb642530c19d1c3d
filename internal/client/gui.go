package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

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

// Window sends a request of the window program (tails-server-gui) to the
// daemon's GUI: method, the GUI's path with its query, the body and its
// content type. The daemon knows the window by the socket's peer
// credentials; nothing else identifies it. A redirect is not followed:
// the answer is the GUI's own, for the window to show.
func (c *Client) Window(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	if err := c.precheck(); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("window path %q does not start with /", path)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+apitype.Host+apitype.Version+"/gui/window"+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	hc := &http.Client{Transport: c.hc.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, c.connErr(err)
	}
	return resp, nil
}

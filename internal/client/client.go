// Package client is the typed client of the daemon's local API, over its
// unix socket. The CLI and the GUI reach the daemon only through it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"syscall"
	"time"

	"tails-server/internal/apitype"
)

// DefaultSocket is the API socket used when neither --socket nor
// TAILS_SERVER_SOCKET says otherwise.
const DefaultSocket = "/run/tails-server/api.sock"

// SocketPath returns the socket to use: flag, then TAILS_SERVER_SOCKET,
// then DefaultSocket.
func SocketPath(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("TAILS_SERVER_SOCKET"); env != "" {
		return env
	}
	return DefaultSocket
}

// Error is an error answered by the daemon.
type Error struct {
	Status int
	Msg    string
	Hint   string
}

func (e *Error) Error() string { return e.Msg }

// NotRunningError says the daemon cannot be reached at Socket.
type NotRunningError struct {
	Socket string
	Reason string
}

func (e *NotRunningError) Error() string {
	return fmt.Sprintf("cannot reach the daemon at %s: %s", e.Socket, e.Reason)
}

// Client talks to one daemon.
type Client struct {
	Socket string
	hc     *http.Client
}

// New returns a client for the daemon listening on socket.
func New(socket string) *Client {
	return &Client{
		Socket: socket,
		hc: &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", socket)
			},
			DisableKeepAlives: true,
		}},
	}
}

// precheck turns the usual socket problems into one clear error.
func (c *Client) precheck() error {
	fi, err := os.Stat(c.Socket)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &NotRunningError{c.Socket, "no such socket (is the daemon running?)"}
	case err != nil:
		return &NotRunningError{c.Socket, err.Error()}
	case fi.Mode()&fs.ModeSocket == 0:
		return &NotRunningError{c.Socket, "not a socket"}
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	if err := c.precheck(); err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+apitype.Host+apitype.Version+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		reason := "the daemon does not answer"
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			reason = "connection refused (the daemon is not running; a stale socket is left)"
		case errors.Is(err, syscall.EACCES):
			reason = "permission denied (run as the daemon's user or group)"
		case errors.Is(err, context.DeadlineExceeded):
			reason = "timed out"
		}
		return &NotRunningError{c.Socket, reason}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e apitype.Error
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("daemon answered %s", resp.Status)
		}
		return &Error{Status: resp.StatusCode, Msg: e.Error, Hint: e.Hint}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

func svcPath(name string, rest ...string) string {
	p := "/services/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// Daemon returns the daemon's status.
func (c *Client) Daemon(ctx context.Context) (apitype.Daemon, error) {
	var d apitype.Daemon
	return d, c.do(ctx, http.MethodGet, "/daemon", nil, &d)
}

// List returns every service.
func (c *Client) List(ctx context.Context) ([]apitype.Service, error) {
	var s []apitype.Service
	return s, c.do(ctx, http.MethodGet, "/services", nil, &s)
}

// Info returns one service.
func (c *Client) Info(ctx context.Context, name string, details bool) (apitype.Service, error) {
	return c.InfoWith(ctx, name, details, false)
}

// InfoWith returns one service, with details and secrets if asked.
func (c *Client) InfoWith(ctx context.Context, name string, details, showSecrets bool) (apitype.Service, error) {
	var s apitype.Service
	q := url.Values{}
	if details {
		q.Set("details", "1")
	}
	if showSecrets {
		q.Set("show_secrets", "1")
	}
	p := svcPath(name)
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return s, c.do(ctx, http.MethodGet, p, nil, &s)
}

// Enable enables a service and waits, at most wait, for it to be reachable.
func (c *Client) Enable(ctx context.Context, name string, wait time.Duration) (apitype.Service, error) {
	return c.EnableWith(ctx, name, apitype.EnableRequest{Wait: wait})
}

// EnableWith enables a service as req says (for example reusing an onion
// key).
func (c *Client) EnableWith(ctx context.Context, name string, req apitype.EnableRequest) (apitype.Service, error) {
	var s apitype.Service
	return s, c.do(ctx, http.MethodPost, svcPath(name, "enable"), req, &s)
}

// Disable disables a service.
func (c *Client) Disable(ctx context.Context, name string) (apitype.Service, error) {
	var s apitype.Service
	return s, c.do(ctx, http.MethodPost, svcPath(name, "disable"), struct{}{}, &s)
}

// Clients lists a service's clients.
func (c *Client) Clients(ctx context.Context, name string) ([]apitype.Client, error) {
	var cl []apitype.Client
	return cl, c.do(ctx, http.MethodGet, svcPath(name, "clients"), nil, &cl)
}

// Client returns one client with its credential.
func (c *Client) Client(ctx context.Context, name, client string) (apitype.Client, error) {
	var cl apitype.Client
	return cl, c.do(ctx, http.MethodGet, svcPath(name, "clients", client), nil, &cl)
}

// AddClient adds a client and returns it with its credential.
func (c *Client) AddClient(ctx context.Context, name, client string) (apitype.Client, error) {
	var cl apitype.Client
	return cl, c.do(ctx, http.MethodPost, svcPath(name, "clients"), apitype.ClientRequest{Name: client}, &cl)
}

// RemoveClient removes a client.
func (c *Client) RemoveClient(ctx context.Context, name, client string) error {
	return c.do(ctx, http.MethodDelete, svcPath(name, "clients", client), nil, nil)
}

// Share returns what a client needs to connect (with client's credential
// if client is not empty).
func (c *Client) Share(ctx context.Context, name, client string) (apitype.Share, error) {
	var sh apitype.Share
	p := svcPath(name, "share")
	if client != "" {
		p += "?client=" + url.QueryEscape(client)
	}
	return sh, c.do(ctx, http.MethodGet, p, nil, &sh)
}

// GetOption returns one option of a service.
func (c *Client) GetOption(ctx context.Context, name, option string, showSecrets bool) (apitype.Option, error) {
	var o apitype.Option
	p := svcPath(name, "options", option)
	if showSecrets {
		p += "?show_secrets=1"
	}
	return o, c.do(ctx, http.MethodGet, p, nil, &o)
}

// SetOption sets one option of a service.
func (c *Client) SetOption(ctx context.Context, name, option, value string) (apitype.SetOptionResult, error) {
	var r apitype.SetOptionResult
	return r, c.do(ctx, http.MethodPut, svcPath(name, "options", option), apitype.SetOptionRequest{Value: value}, &r)
}

// Remove disables a service and wipes its data, config and key, and says
// what went.
func (c *Client) Remove(ctx context.Context, name string) (apitype.RemoveResult, error) {
	var r apitype.RemoveResult
	return r, c.do(ctx, http.MethodPost, svcPath(name, "remove"), struct{}{}, &r)
}

// Logs returns the last n lines of a service's backend output.
func (c *Client) Logs(ctx context.Context, name string, n int) ([]string, error) {
	var l []string
	return l, c.do(ctx, http.MethodGet, svcPath(name, "logs")+"?n="+strconv.Itoa(n), nil, &l)
}

// FollowLogs copies a running backend's new output lines to w until ctx
// ends or the backend stops.
func (c *Client) FollowLogs(ctx context.Context, name string, w io.Writer) error {
	if err := c.precheck(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+apitype.Host+apitype.Version+svcPath(name, "logs")+"?follow=1", nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return &NotRunningError{c.Socket, "the daemon does not answer"}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e apitype.Error
		json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
		return &Error{Status: resp.StatusCode, Msg: e.Error, Hint: e.Hint}
	}
	_, err = io.Copy(w, resp.Body)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// EnableStream enables a service as req says, calling progress for every
// step, and returns the final service.
func (c *Client) EnableStream(ctx context.Context, name string, req apitype.EnableRequest, progress func(apitype.Progress)) (apitype.Service, error) {
	if err := c.precheck(); err != nil {
		return apitype.Service{}, err
	}
	b, err := json.Marshal(req)
	if err != nil {
		return apitype.Service{}, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+apitype.Host+apitype.Version+svcPath(name, "enable")+"?stream=1", bytes.NewReader(b))
	if err != nil {
		return apitype.Service{}, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return apitype.Service{}, &NotRunningError{c.Socket, "the daemon does not answer"}
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var e apitype.Error
		dec.Decode(&e)
		return apitype.Service{}, &Error{Status: resp.StatusCode, Msg: e.Error, Hint: e.Hint}
	}
	for {
		var ev apitype.EnableEvent
		if err := dec.Decode(&ev); err != nil {
			return apitype.Service{}, fmt.Errorf("the daemon's answer ended early: %w", err)
		}
		switch {
		case ev.Progress != nil:
			if progress != nil {
				progress(*ev.Progress)
			}
		case ev.Error != nil:
			return apitype.Service{}, &Error{Status: http.StatusBadRequest, Msg: ev.Error.Error, Hint: ev.Error.Hint}
		case ev.Service != nil:
			return *ev.Service, nil
		}
	}
}

// Settings returns the daemon's global settings.
func (c *Client) Settings(ctx context.Context) (apitype.Settings, error) {
	var s apitype.Settings
	return s, c.do(ctx, http.MethodGet, "/settings", nil, &s)
}

// SetSetting changes one global setting.
func (c *Client) SetSetting(ctx context.Context, name, value string) (apitype.Settings, error) {
	var s apitype.Settings
	return s, c.do(ctx, http.MethodPut, "/settings/"+url.PathEscape(name), apitype.SettingRequest{Value: value}, &s)
}

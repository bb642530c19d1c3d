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
	"os/user"
	"strconv"
	"syscall"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/peercred"
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

// PermissionError says the socket refused this user: only root and the
// members of the socket's group may use the daemon.
type PermissionError struct {
	Socket string
	Group  string // the socket's group, "" if unknown
}

func (e *PermissionError) Error() string {
	who := "root and the members of the socket's group"
	if e.Group != "" {
		who = "root and the members of group " + e.Group
	}
	return fmt.Sprintf("permission denied on %s: only %s may use the daemon", e.Socket, who)
}

// UntrustedError says that the process serving the socket is neither root
// nor this user, so the client sent it nothing.
type UntrustedError struct {
	Socket string
	UID    int
}

func (e *UntrustedError) Error() string {
	name := ""
	if u, err := user.LookupId(strconv.Itoa(e.UID)); err == nil {
		name = " (" + u.Username + ")"
	}
	return fmt.Sprintf("refusing the daemon at %s: it is served by uid %d%s, not by root; nothing was sent to it", e.Socket, e.UID, name)
}

// Client talks to one daemon.
type Client struct {
	Socket string
	hc     *http.Client
}

// New returns a client for the daemon listening on socket. Before a
// request is sent, the process at the other end of the socket must be root
// or this client's own user (its peer credentials, which it cannot forge):
// a socket served by anyone else gets nothing, not even a request line.
func New(socket string) *Client {
	c := &Client{Socket: socket}
	c.hc = &http.Client{Transport: callerHeader{&http.Transport{
		DialContext:       c.dial,
		DisableKeepAlives: true,
	}}}
	return c
}

// dial connects to the socket and checks who serves it.
func (c *Client) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Socket)
	if err != nil {
		return nil, err
	}
	cred, err := peercred.Of(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if cred.UID != 0 && cred.UID != os.Getuid() {
		conn.Close()
		return nil, &UntrustedError{Socket: c.Socket, UID: cred.UID}
	}
	return conn, nil
}

type callerKey struct{}

// WithCaller returns ctx whose API calls say that they are made for uid
// (the GUI's session owner), in apitype.CallerHeader.
func WithCaller(ctx context.Context, uid int) context.Context {
	return context.WithValue(ctx, callerKey{}, uid)
}

// callerHeader sets CallerHeader from the request's context.
type callerHeader struct{ next http.RoundTripper }

func (t callerHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	if uid, ok := r.Context().Value(callerKey{}).(int); ok {
		r = r.Clone(r.Context())
		r.Header.Set(apitype.CallerHeader, strconv.Itoa(uid))
	}
	return t.next.RoundTrip(r)
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

// connErr turns a failed request into the error that says why.
func (c *Client) connErr(err error) error {
	var ue *UntrustedError
	switch {
	case errors.As(err, &ue):
		return ue
	case errors.Is(err, syscall.EACCES):
		pe := &PermissionError{Socket: c.Socket}
		if fi, serr := os.Stat(c.Socket); serr == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				pe.Group = strconv.Itoa(int(st.Gid))
				if g, gerr := user.LookupGroupId(pe.Group); gerr == nil {
					pe.Group = g.Name
				}
			}
		}
		return pe
	case errors.Is(err, syscall.ECONNREFUSED):
		return &NotRunningError{c.Socket, "connection refused (the daemon is not running; a stale socket is left)"}
	case errors.Is(err, context.DeadlineExceeded):
		return &NotRunningError{c.Socket, "timed out"}
	}
	return &NotRunningError{c.Socket, "the daemon does not answer"}
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
		return c.connErr(err)
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
		return c.connErr(err)
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
		return apitype.Service{}, c.connErr(err)
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

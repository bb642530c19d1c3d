package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"tails-server/internal/apitype"
)

// IsolationPolicy returns the daemon's stream isolation policy and what
// its tor exposes of it.
func (c *Client) IsolationPolicy(ctx context.Context) (apitype.IsolationPolicy, error) {
	var p apitype.IsolationPolicy
	return p, c.do(ctx, http.MethodGet, "/isolation/policy", nil, &p)
}

// IsolationAudit has the daemon audit its tor's streams for d and returns
// the report.
func (c *Client) IsolationAudit(ctx context.Context, d time.Duration) (apitype.IsolationAudit, error) {
	var a apitype.IsolationAudit
	return a, c.do(ctx, http.MethodGet, "/isolation/audit?for="+url.QueryEscape(d.String()), nil, &a)
}

// FollowIsolationAudit streams the daemon's audit, calling fn for every
// event (streams, violations, notes), until ctx ends. With d > 0 the
// audit ends after d and its last event carries the report.
func (c *Client) FollowIsolationAudit(ctx context.Context, d time.Duration, fn func(apitype.IsolationAuditEvent)) error {
	if err := c.precheck(); err != nil {
		return err
	}
	q := url.Values{"stream": {"1"}}
	if d > 0 {
		q.Set("for", d.String())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+apitype.Host+apitype.Version+"/isolation/audit?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return c.connErr(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var e apitype.Error
		dec.Decode(&e)
		if e.Error == "" {
			e.Error = fmt.Sprintf("daemon answered %s", resp.Status)
		}
		return &Error{Status: resp.StatusCode, Msg: e.Error, Hint: e.Hint}
	}
	for {
		var ev apitype.IsolationAuditEvent
		if err := dec.Decode(&ev); err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("the daemon's audit ended early: %w", err)
		}
		if ev.Error != nil {
			return &Error{Status: http.StatusInternalServerError, Msg: ev.Error.Error, Hint: ev.Error.Hint}
		}
		fn(ev)
	}
}

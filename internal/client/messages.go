package client

import (
	"context"
	"net/http"

	"tails-server/internal/apitype"
)

// ListMessages lists the messages visitors left with a service, newest
// first.
func (c *Client) ListMessages(ctx context.Context, name string) (apitype.MessageList, error) {
	var l apitype.MessageList
	return l, c.do(ctx, http.MethodGet, svcPath(name, "messages"), nil, &l)
}

// DeleteMessage deletes one message of a service by its ID, which is
// checked (apitype.CheckMessageID) before the daemon is asked.
func (c *Client) DeleteMessage(ctx context.Context, name, id string) (apitype.DeleteMessageResult, error) {
	var r apitype.DeleteMessageResult
	if err := apitype.CheckMessageID(id); err != nil {
		return r, err
	}
	return r, c.do(ctx, http.MethodDelete, svcPath(name, "messages", id), nil, &r)
}

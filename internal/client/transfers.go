package client

import (
	"context"
	"net/http"

	"tails-server/internal/apitype"
)

// Transfers returns a service's transfers: those under way with their
// bytes so far, and the finished ones, newest first.
func (c *Client) Transfers(ctx context.Context, name string) (apitype.Transfers, error) {
	var t apitype.Transfers
	return t, c.do(ctx, http.MethodGet, svcPath(name, "transfers"), nil, &t)
}

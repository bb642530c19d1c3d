package client

import (
	"context"
	"net/http"
	"net/url"

	"tails-server/internal/apitype"
)

func balancePath(name string, rest ...string) string {
	p := "/balance/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// BalanceCreate creates an Onionbalance master called name, with a new
// key or key (Tor's key file or ED25519-V3:<base64>).
func (c *Client) BalanceCreate(ctx context.Context, name string, key []byte) (apitype.Balance, error) {
	var b apitype.Balance
	return b, c.do(ctx, http.MethodPost, "/balance", apitype.BalanceCreateRequest{Name: name, OnionKey: key}, &b)
}

// BalanceAdd adds an instance to a master.
func (c *Client) BalanceAdd(ctx context.Context, name, address string) (apitype.Balance, error) {
	var b apitype.Balance
	return b, c.do(ctx, http.MethodPost, balancePath(name, "instances"), apitype.BalanceInstanceRequest{Address: address}, &b)
}

// BalanceRemove removes an instance from a master.
func (c *Client) BalanceRemove(ctx context.Context, name, address string) (apitype.Balance, error) {
	var b apitype.Balance
	return b, c.do(ctx, http.MethodDelete, balancePath(name, "instances"), apitype.BalanceInstanceRequest{Address: address}, &b)
}

// BalanceStatus asks onionbalance how a master and its instances are.
func (c *Client) BalanceStatus(ctx context.Context, name string) (apitype.BalanceStatus, error) {
	var s apitype.BalanceStatus
	return s, c.do(ctx, http.MethodGet, balancePath(name, "status"), nil, &s)
}

// BalanceDelete stops a master's onionbalance and deletes it, its key
// included.
func (c *Client) BalanceDelete(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, balancePath(name), nil, nil)
}

// BalanceList lists the masters.
func (c *Client) BalanceList(ctx context.Context) (apitype.BalanceList, error) {
	var l apitype.BalanceList
	return l, c.do(ctx, http.MethodGet, "/balance", nil, &l)
}

package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"tails-server/internal/apitype"
)

// MaxMetricsSize bounds the metrics text Metrics reads.
const MaxMetricsSize = 16 << 20

// Metrics returns the daemon's metrics in the Prometheus text format;
// with withAddresses, tor's series carry the onion address beside the
// service name.
func (c *Client) Metrics(ctx context.Context, withAddresses bool) ([]byte, error) {
	path := apitype.Version + "/metrics"
	if withAddresses {
		path += "?with_addresses=1"
	}
	b, resp, err := c.getRaw(ctx, path, MaxMetricsSize)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e apitype.Error
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("daemon answered %s", resp.Status)
		}
		return nil, &Error{Status: resp.StatusCode, Msg: e.Error, Hint: e.Hint}
	}
	if len(b) > MaxMetricsSize {
		return nil, fmt.Errorf("metrics larger than %d bytes", MaxMetricsSize)
	}
	return b, nil
}

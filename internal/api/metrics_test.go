package api

import (
	"context"
	"net/http"
	"testing"
)

func (d *fakeDaemon) Metrics(_ context.Context, withAddresses bool) ([]byte, error) {
	if withAddresses {
		return []byte("x{onion=\"a\"} 1\n"), nil
	}
	return []byte("x 1\n"), nil
}

func TestMetricsThroughAPI(t *testing.T) {
	c, _ := serve(t)
	ctx := context.Background()
	if b, err := c.Metrics(ctx, false); err != nil || string(b) != "x 1\n" {
		t.Fatalf("Metrics = %q, %v", b, err)
	}
	if b, err := c.Metrics(ctx, true); err != nil || string(b) != "x{onion=\"a\"} 1\n" {
		t.Fatalf("Metrics with addresses = %q, %v", b, err)
	}
}

// A daemon without metrics answers an error, not an empty text.
func TestMetricsAbsent(t *testing.T) {
	h := &handler{d: noMetrics{}}
	if _, err := h.metrics(nil, (&http.Request{}).WithContext(context.Background())); err == nil {
		t.Fatal("no error from a daemon without metrics")
	}
}

type noMetrics struct{ Daemon }

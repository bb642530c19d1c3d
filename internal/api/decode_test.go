package api

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"tails-server/internal/apitype"
)

// TestBodyWithTrailingText: a body holding a second JSON value (or any
// text after the first) is refused, not read as its first value.
func TestBodyWithTrailingText(t *testing.T) {
	c, sock := serve(t)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
	for _, body := range []string{`{"value":"smuggled"}{"value":"b"}`, `{"value":"smuggled"} x`, `{"value":"smuggled"}]`} {
		req, _ := http.NewRequest(http.MethodPut, "http://x"+apitype.Version+"/services/web/options/title", strings.NewReader(body))
		req.Host = apitype.Host
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 400", body, resp.StatusCode)
		}
	}
	o, err := c.GetOption(context.Background(), "web", "title", false)
	if err != nil || o.Value == "smuggled" {
		t.Fatalf("title = %q, %v: a refused body changed it", o.Value, err)
	}
	// A body with trailing white space is one value.
	req, _ := http.NewRequest(http.MethodPut, "http://x"+apitype.Version+"/services/web/options/title", strings.NewReader("{\"value\":\"ok\"}\n \n"))
	req.Host = apitype.Host
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("trailing white space: status %d, want 200", resp.StatusCode)
	}
}

package localhttp

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStalledBodyLosesItsConnection: a client that declares a request
// body, sends part of it and stops, does not hold its connection for
// ever, even when the handler never reads the body.
func TestStalledBodyLosesItsConnection(t *testing.T) {
	old := BodyTimeout
	BodyTimeout = 300 * time.Millisecond
	t.Cleanup(func() { BodyTimeout = old })
	s, err := Listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, head := range []string{"Content-Length: 1000", "Transfer-Encoding: chunked"} {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n%s", head, "a\r\n0123456789")
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		resp, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("%s: the stalled request still holds its connection: %v (read %q)", head, err, resp)
		}
		if !strings.HasPrefix(string(resp), "HTTP/1.1 200") || !strings.HasSuffix(string(resp), "hello") {
			t.Errorf("%s: answer %q", head, resp)
		}
	}
}

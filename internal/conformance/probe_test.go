package conformance

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"tails-server/internal/catalog"
)

// fakeOnion is a prober whose streams go to handle (the far end of a
// pipe) instead of through tor.
func fakeOnion(handle func(c net.Conn)) *prober {
	return &prober{dial: func(ctx context.Context, target string) (net.Conn, error) {
		a, b := net.Pipe()
		go func() { defer b.Close(); handle(b) }()
		return a, nil
	}}
}

func TestTCPProbe(t *testing.T) {
	banner := func(c net.Conn) { io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\n") }
	echo := func(c net.Conn) {
		l, _ := bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "you said "+l)
	}
	silent := func(c net.Conn) { time.Sleep(2 * time.Second) }
	tests := []struct {
		handle  func(net.Conn)
		tcp     *catalog.TCPProbe
		wantErr string // "" passes
	}{
		{banner, &catalog.TCPProbe{}, ""},
		{banner, &catalog.TCPProbe{Expect: regexp.MustCompile(`^SSH-2\.0-`)}, ""},
		{banner, &catalog.TCPProbe{Expect: regexp.MustCompile(`^220 `)}, `the banner "SSH-2.0-OpenSSH_9.2\r\n" does not match ^220  (connection closed)`},
		{echo, &catalog.TCPProbe{Send: "PING\n", Expect: regexp.MustCompile(`said PING`)}, ""},
		{silent, &catalog.TCPProbe{Expect: regexp.MustCompile(`x`)}, `the banner "" does not match x`},
	}
	for _, tt := range tests {
		p := catalog.Probe{Port: 22, TCP: tt.tcp, Timeout: 300 * time.Millisecond}
		err := fakeOnion(tt.handle).once(context.Background(), p, "x.onion")
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%+v: %v; want %q", tt.tcp, err, tt.wantErr)
		}
	}
}

func TestHTTPProbe(t *testing.T) {
	serve := func(status int, body string) func(net.Conn) {
		return func(c net.Conn) {
			req, err := http.ReadRequest(bufio.NewReader(c))
			if err != nil || req.Host != "abc.onion" || req.URL.Path != "/p" {
				io.WriteString(c, "HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n")
				return
			}
			resp := http.Response{StatusCode: status, ProtoMajor: 1, ProtoMinor: 1, ContentLength: int64(len(body)), Body: io.NopCloser(strings.NewReader(body))}
			resp.Write(c)
		}
	}
	tests := []struct {
		handle  func(net.Conn)
		h       catalog.HTTPProbe
		wantErr string
	}{
		{serve(200, "Welcome"), catalog.HTTPProbe{Path: "/p"}, ""},
		{serve(404, ""), catalog.HTTPProbe{Path: "/p"}, ""},
		{serve(502, ""), catalog.HTTPProbe{Path: "/p"}, "GET /p: status 502, want one below 500"},
		{serve(404, ""), catalog.HTTPProbe{Path: "/p", ExpectStatus: 200}, "GET /p: status 404, want 200"},
		{serve(200, "Welcome home"), catalog.HTTPProbe{Path: "/p", ExpectStatus: 200, ExpectBody: regexp.MustCompile(`home$`)}, ""},
		{serve(200, "Welcome"), catalog.HTTPProbe{Path: "/p", ExpectBody: regexp.MustCompile(`Edition`)}, `GET /p: status 200, but the body "Welcome" does not match Edition`},
		{func(c net.Conn) {
			http.ReadRequest(bufio.NewReader(c))
			io.WriteString(c, "SSH-2.0-x\r\n")
		}, catalog.HTTPProbe{Path: "/p"}, "GET /p: no HTTP answer"},
	}
	for _, tt := range tests {
		h := tt.h
		p := catalog.Probe{Port: 80, HTTP: &h, Timeout: time.Second}
		err := fakeOnion(tt.handle).once(context.Background(), p, "abc.onion")
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%+v: %v; want %q", tt.h, err, tt.wantErr)
		}
	}
}

// TestCommandProbe runs the argv with {host} and {port} in place, each
// one argument, no shell; "env" stands in for torsocks (it runs its
// arguments), and the environment points torsocks at the client tor.
func TestCommandProbe(t *testing.T) {
	if got := probeArgv([]string{"curl", "http://{host}:{port}/", "{host}; rm -rf /"}, "abc.onion", 8080); strings.Join(got, "|") != "curl|http://abc.onion:8080/|abc.onion; rm -rf /" {
		t.Fatalf("argv %q", got)
	}
	p := &prober{socks: "127.0.0.1:9150", torsocks: "env"}
	pass := catalog.Probe{Port: 80, Command: []string{"sh", "-c", `test "$1" = abc.onion:80 && test "$TORSOCKS_TOR_PORT" = 9150`, "sh", "{host}:{port}"}, Timeout: 5 * time.Second}
	if err := p.once(context.Background(), pass, "abc.onion"); err != nil {
		t.Fatalf("passing command: %v", err)
	}
	fail := catalog.Probe{Port: 80, Command: []string{"sh", "-c", "echo first; echo 'refused: no route' >&2; exit 3"}, Timeout: 5 * time.Second}
	if err := p.once(context.Background(), fail, "abc.onion"); err == nil || err.Error() != "sh: exit status 3: refused: no route" {
		t.Fatalf("failing command: %v", err)
	}
	slow := catalog.Probe{Port: 80, Command: []string{"sleep", "10"}, Timeout: 200 * time.Millisecond}
	if err := p.once(context.Background(), slow, "abc.onion"); err == nil || !strings.Contains(err.Error(), "no exit within 200ms") {
		t.Fatalf("slow command: %v", err)
	}
}

// TestRetry: until the first success, or the last error with the tries.
func TestRetry(t *testing.T) {
	n := 0
	if err := retry(context.Background(), 5*time.Second, func() error {
		if n++; n < 3 {
			return io.ErrUnexpectedEOF
		}
		return nil
	}); err != nil || n != 3 {
		t.Fatalf("retry: %v after %d", err, n)
	}
	err := retry(context.Background(), 300*time.Millisecond, func() error { return io.EOF })
	if err == nil || !strings.HasPrefix(err.Error(), "EOF (") || !strings.Contains(err.Error(), "tries in 300ms)") {
		t.Fatalf("retry gave up with %v", err)
	}
}

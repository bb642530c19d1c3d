package tor

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"tails-server/internal/onionkey"
)

// silentConn records writes and never answers.
type silentConn struct {
	mu      sync.Mutex
	written []string
	closed  chan struct{}
	once    sync.Once
}

func (s *silentConn) Read([]byte) (int, error) { <-s.closed; return 0, io.EOF }
func (s *silentConn) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.written = append(s.written, string(p))
	return len(p), nil
}
func (s *silentConn) Close() error { s.once.Do(func() { close(s.closed) }); return nil }

func TestValidationRefusesBeforeWriting(t *testing.T) {
	sc := &silentConn{closed: make(chan struct{})}
	c := NewConn(sc)
	defer c.Close()
	ctx := context.Background()
	sk, _ := onionkey.GenerateServiceKey()
	ck, _ := onionkey.GenerateClientKey()
	addr := sk.Address()
	pub := ck.PublicBase32()

	// bad values of a string argument: the name of the case and the value.
	bads := []struct{ name, v string }{
		{"CR", "a\rb"},
		{"LF", "a\nb"},
		{"CRLF injection", "a\r\nSIGNAL SHUTDOWN"},
		{"NUL", "a\x00b"},
		{"quote", `a"b`},
		{"space", "a b"},
	}
	// each public method taking a string, with the bad value put in that
	// string (for values that may hold spaces, "space" is allowed).
	calls := []struct {
		name       string
		spaceOK    bool
		quoteOK    bool
		call       func(v string) error
		wantArgErr bool
	}{
		{"GetInfo key", false, false, func(v string) error { _, err := c.GetInfo(ctx, "version", v); return err }, true},
		{"GetConf key", false, false, func(v string) error { _, err := c.GetConf(ctx, v); return err }, true},
		{"SetConf key", false, false, func(v string) error { return c.SetConf(ctx, KeyValue{v, "1"}) }, true},
		{"SetConf value", true, false, func(v string) error { return c.SetConf(ctx, KeyValue{"Nickname", v}) }, true},
		{"Signal", false, false, func(v string) error { return c.Signal(ctx, v) }, true},
		{"Subscribe", false, false, func(v string) error { _, _, err := c.Subscribe("CIRC", v); return err }, true},
		{"Authenticate password", true, true, func(v string) error { return c.Authenticate(ctx, v) }, true},
		{"AddOnion target", false, false, func(v string) error {
			_, err := c.AddOnion(ctx, AddOnionRequest{Ports: []PortMapping{{80, "127.0.0.1:80" + v}}})
			return err
		}, true},
		{"AddOnion unix target", false, false, func(v string) error {
			_, err := c.AddOnion(ctx, AddOnionRequest{Ports: []PortMapping{{80, "unix:/run/" + v}}})
			return err
		}, true},
		{"AddOnion flag", false, false, func(v string) error {
			_, err := c.AddOnion(ctx, AddOnionRequest{Ports: []PortMapping{{80, ""}}, Flags: []string{"Detach" + v}})
			return err
		}, true},
		{"AddOnion ClientAuthV3", false, false, func(v string) error {
			_, err := c.AddOnion(ctx, AddOnionRequest{Ports: []PortMapping{{80, ""}}, ClientAuthV3: []string{pub[:26] + v + pub[26:]}})
			return err
		}, true},
		{"DelOnion", false, false, func(v string) error { return c.DelOnion(ctx, addr[:20]+v+addr[20:]) }, true},
		{"OnionClientAuthAdd address", false, false, func(v string) error { return c.OnionClientAuthAdd(ctx, addr+v, ck, "", false) }, true},
		{"OnionClientAuthAdd nickname", false, false, func(v string) error { return c.OnionClientAuthAdd(ctx, addr, ck, "bob"+v, false) }, true},
		{"OnionClientAuthRemove", false, false, func(v string) error { return c.OnionClientAuthRemove(ctx, v+addr) }, true},
		{"HSFetch", false, false, func(v string) error { return c.HSFetch(ctx, addr[:10]+v+addr[10:]) }, true},
		{"OnionClientAuthView", false, false, func(v string) error { _, err := c.OnionClientAuthView(ctx, addr+v); return err }, true},
	}
	for _, call := range calls {
		for _, bad := range bads {
			if bad.name == "space" && call.spaceOK || bad.name == "quote" && call.quoteOK {
				continue
			}
			t.Run(call.name+"/"+bad.name, func(t *testing.T) {
				err := call.call(bad.v)
				var ae *ArgError
				if !errors.As(err, &ae) {
					t.Fatalf("error = %v, want an *ArgError", err)
				}
				if strings.ContainsAny(err.Error(), "\r\n\x00") {
					t.Errorf("error holds a raw control character: %q", err)
				}
			})
		}
	}
	// Other refusals.
	others := map[string]func() error{
		"no GetInfo keys":   func() error { _, err := c.GetInfo(ctx); return err },
		"no SetConf":        func() error { return c.SetConf(ctx) },
		"SetConf backslash": func() error { return c.SetConf(ctx, KeyValue{"Nickname", `a\b`}) },
		"SetConf tab":       func() error { return c.SetConf(ctx, KeyValue{"Nickname", "a\tb"}) },
		"no ports":          func() error { _, err := c.AddOnion(ctx, AddOnionRequest{}); return err },
		"port 0":            func() error { _, err := c.AddOnion(ctx, AddOnionRequest{Ports: []PortMapping{{0, ""}}}); return err },
		"port 65536": func() error {
			_, err := c.AddOnion(ctx, AddOnionRequest{Ports: []PortMapping{{65536, ""}}})
			return err
		},
		"target port 0": func() error {
			_, err := c.AddOnion(ctx, AddOnionRequest{Ports: []PortMapping{{80, "127.0.0.1:0"}}})
			return err
		},
		"target port 70000": func() error {
			_, err := c.AddOnion(ctx, AddOnionRequest{Ports: []PortMapping{{80, "70000"}}})
			return err
		},
		"target hostname": func() error {
			_, err := c.AddOnion(ctx, AddOnionRequest{Ports: []PortMapping{{80, "example.com:80"}}})
			return err
		},
		"target comma": func() error {
			_, err := c.AddOnion(ctx, AddOnionRequest{Ports: []PortMapping{{80, "80,81"}}})
			return err
		},
		"relative unix": func() error {
			_, err := c.AddOnion(ctx, AddOnionRequest{Ports: []PortMapping{{80, "unix:run/x"}}})
			return err
		},
		"unknown flag": func() error {
			_, err := c.AddOnion(ctx, AddOnionRequest{Ports: []PortMapping{{80, ""}}, Flags: []string{"Fancy"}})
			return err
		},
		"MaxStreams": func() error {
			_, err := c.AddOnion(ctx, AddOnionRequest{Ports: []PortMapping{{80, ""}}, MaxStreams: -1})
			return err
		},
		"lower-case client key": func() error {
			_, err := c.AddOnion(ctx, AddOnionRequest{Ports: []PortMapping{{80, ""}}, ClientAuthV3: []string{strings.ToLower(pub)}})
			return err
		},
		"bad address checksum": func() error { return c.DelOnion(ctx, addr[:55]+string(rune('a'+(addr[55]-'a'+1)%26))) },
		"v2 address":           func() error { return c.DelOnion(ctx, "expyuzz4wqqyqhjn") },
		"nil client key":       func() error { return c.OnionClientAuthAdd(ctx, addr, nil, "", false) },
		"long nickname":        func() error { return c.OnionClientAuthAdd(ctx, addr, ck, strings.Repeat("n", 17), false) },
		"nickname symbol":      func() error { return c.OnionClientAuthAdd(ctx, addr, ck, "a=b", false) },
		"signal symbol":        func() error { return c.Signal(ctx, "NEW-NYM") },
		"event digit":          func() error { _, _, err := c.Subscribe("CIRC1"); return err },
		"no events":            func() error { _, _, err := c.Subscribe(); return err },
		"conf key symbol":      func() error { _, err := c.GetConf(ctx, "Socks=Port"); return err },
		"info key equals":      func() error { _, err := c.GetInfo(ctx, "a=b"); return err },
	}
	for name, f := range others {
		t.Run(name, func(t *testing.T) {
			var ae *ArgError
			if err := f(); !errors.As(err, &ae) {
				t.Errorf("error = %v, want an *ArgError", err)
			}
		})
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if len(sc.written) != 0 {
		t.Errorf("bytes reached the socket: %q", sc.written)
	}
}

// Secret arguments are named, never quoted, in refusals.
func TestRefusalsDoNotEchoSecrets(t *testing.T) {
	sc := &silentConn{closed: make(chan struct{})}
	c := NewConn(sc)
	defer c.Close()
	err := c.Authenticate(context.Background(), "hunter2\nx")
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "password") {
		t.Errorf("error = %v", err)
	}
}

package socks

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// request is what the fake server read from the client.
type request struct {
	methods  []byte
	user     string
	pass     string
	atyp     byte
	host     string // domain name or IP text
	port     int
	authSeen bool
}

// fakeServer accepts one connection on 127.0.0.1 and runs serve on it. The
// returned channel yields serve's error once it is done.
func fakeServer(t *testing.T, serve func(c net.Conn) error) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		done <- serve(c)
	}()
	return ln.Addr().String(), done
}

// readRequest plays the server side up to and including the CONNECT
// request; it answers the greeting with method and, for method 2, accepts
// the credentials if authOK.
func readRequest(c net.Conn, method byte, authOK bool) (*request, error) {
	r := &request{}
	b := make([]byte, 2)
	if _, err := io.ReadFull(c, b); err != nil {
		return nil, err
	}
	r.methods = make([]byte, b[1])
	if _, err := io.ReadFull(c, r.methods); err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{5, method}); err != nil {
		return nil, err
	}
	if method == 0xFF {
		return r, nil
	}
	if method == 2 {
		r.authSeen = true
		var l [1]byte
		io.ReadFull(c, b[:2]) // version, ulen
		u := make([]byte, b[1])
		io.ReadFull(c, u)
		io.ReadFull(c, l[:])
		p := make([]byte, l[0])
		if _, err := io.ReadFull(c, p); err != nil {
			return nil, err
		}
		r.user, r.pass = string(u), string(p)
		status := byte(0)
		if !authOK {
			status = 1
		}
		if _, err := c.Write([]byte{1, status}); err != nil {
			return nil, err
		}
		if !authOK {
			return r, nil
		}
	}
	hdr := make([]byte, 4)
	if _, err := io.ReadFull(c, hdr); err != nil {
		return nil, err
	}
	r.atyp = hdr[3]
	switch hdr[3] {
	case 1, 4:
		ip := make([]byte, map[byte]int{1: 4, 4: 16}[hdr[3]])
		io.ReadFull(c, ip)
		r.host = net.IP(ip).String()
	case 3:
		var l [1]byte
		io.ReadFull(c, l[:])
		h := make([]byte, l[0])
		io.ReadFull(c, h)
		r.host = string(h)
	}
	pb := make([]byte, 2)
	if _, err := io.ReadFull(c, pb); err != nil {
		return nil, err
	}
	r.port = int(pb[0])<<8 | int(pb[1])
	return r, nil
}

var okReply = []byte{5, 0, 0, 1, 127, 0, 0, 1, 0x1F, 0x90}

func ctx5s(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDialSuccess(t *testing.T) {
	const onion = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion"
	for _, tc := range []struct {
		target, host string
		atyp         byte
		reply        []byte
	}{
		{onion + ":80", onion, 3, okReply},
		{"example.com:443", "example.com", 3, []byte{5, 0, 0, 3, 4, 'a', 'b', 'c', 'd', 0, 1}},
		{"127.0.0.1:8080", "127.0.0.1", 1, okReply},
		{"[::1]:8080", "::1", 4, append([]byte{5, 0, 0, 4}, make([]byte, 18)...)},
	} {
		t.Run(tc.host, func(t *testing.T) {
			got := make(chan *request, 1)
			addr, done := fakeServer(t, func(c net.Conn) error {
				r, err := readRequest(c, 0, true)
				if err != nil {
					return err
				}
				got <- r
				if _, err := c.Write(tc.reply); err != nil {
					return err
				}
				_, err = io.Copy(c, c) // echo
				return err
			})
			conn, err := Dial(ctx5s(t), addr, tc.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			r := <-got
			if !bytes.Equal(r.methods, []byte{0}) || r.authSeen {
				t.Errorf("methods offered %v, want [0]", r.methods)
			}
			if r.atyp != tc.atyp || r.host != tc.host {
				t.Errorf("request ATYP %d host %q, want %d %q", r.atyp, r.host, tc.atyp, tc.host)
			}
			if _, err := conn.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("echo: %q, %v", buf, err)
			}
			conn.Close()
			<-done
		})
	}
}

func TestDialAuth(t *testing.T) {
	got := make(chan *request, 1)
	addr, _ := fakeServer(t, func(c net.Conn) error {
		r, err := readRequest(c, 2, true)
		if err != nil {
			return err
		}
		got <- r
		_, err = c.Write(okReply)
		return err
	})
	conn, err := Dial(ctx5s(t), addr, "example.onion:80", &Auth{Username: "alice", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	r := <-got
	if !bytes.Equal(r.methods, []byte{2}) || r.user != "alice" || r.pass != "s3cret" || r.port != 80 {
		t.Errorf("server saw methods %v user %q pass %q port %d", r.methods, r.user, r.pass, r.port)
	}

	// Rejected credentials.
	addr, _ = fakeServer(t, func(c net.Conn) error { _, err := readRequest(c, 2, false); return err })
	_, err = Dial(ctx5s(t), addr, "example.onion:80", &Auth{Username: "alice", Password: "wrong"})
	if err == nil || !strings.Contains(err.Error(), "rejected the credentials") {
		t.Errorf("rejected credentials: got %v", err)
	}

	// Server wants no method we offer.
	addr, _ = fakeServer(t, func(c net.Conn) error { _, err := readRequest(c, 0xFF, false); return err })
	_, err = Dial(ctx5s(t), addr, "example.onion:80", nil)
	if err == nil || !strings.Contains(err.Error(), "requires authentication") {
		t.Errorf("no acceptable method: got %v", err)
	}

	if s := (Auth{Username: "u", Password: "topsecret"}).String(); strings.Contains(s, "topsecret") {
		t.Errorf("Auth.String leaks the password: %s", s)
	}
}

func TestDialReplyCodes(t *testing.T) {
	for code, text := range codeText {
		addr, _ := fakeServer(t, func(c net.Conn) error {
			if _, err := readRequest(c, 0, true); err != nil {
				return err
			}
			_, err := c.Write([]byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0})
			return err
		})
		conn, err := Dial(ctx5s(t), addr, "x.onion:80", nil)
		if err == nil {
			conn.Close()
			t.Fatalf("code %#02x: no error", code)
		}
		var re *ReplyError
		if !errors.As(err, &re) || re.Code != code || !IsCode(err, code) || IsCode(err, code^1) {
			t.Errorf("code %#02x: got %v (%T)", code, err, err)
		}
		if !strings.Contains(err.Error(), text) || !strings.Contains(err.Error(), "x.onion:80") {
			t.Errorf("code %#02x: message %q lacks %q or the target", code, err, text)
		}
	}
	if got := (&ReplyError{Code: 0x42}).Error(); got != "socks: unknown reply code 0x42" {
		t.Errorf("unknown code: %q", got)
	}
	if got := (&ReplyError{Code: 0xF4}).Error(); got != "socks: onion service missing client authorization (0xf4)" {
		t.Errorf("0xF4: %q", got)
	}
	if IsCode(errors.New("other"), 1) || IsCode(nil, 0) {
		t.Error("IsCode true for a non-ReplyError")
	}
}

func TestDialMalformed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func(c net.Conn) error
		want  string
	}{
		{"bad version in method selection", func(c net.Conn) error {
			_, err := c.Write([]byte{4, 0})
			return err
		}, "version 0x04"},
		{"method not offered", func(c net.Conn) error {
			_, err := c.Write([]byte{5, 2})
			return err
		}, "not offered"},
		{"closed after greeting", func(c net.Conn) error {
			return nil
		}, "connection closed during method selection"},
		{"bad version in reply", func(c net.Conn) error {
			readRequest(c, 0, true)
			_, err := c.Write([]byte{1, 0, 0, 1, 0, 0, 0, 0, 0, 0})
			return err
		}, "version 0x01 in connect reply"},
		{"unknown address type", func(c net.Conn) error {
			readRequest(c, 0, true)
			_, err := c.Write([]byte{5, 0, 0, 9, 0, 0, 0, 0, 0, 0})
			return err
		}, "unknown address type 0x09"},
		{"truncated reply", func(c net.Conn) error {
			readRequest(c, 0, true)
			_, err := c.Write([]byte{5, 0, 0, 1, 127})
			return err
		}, "connection closed during connect reply"},
		{"http server", func(c net.Conn) error {
			_, err := c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			return err
		}, "malformed reply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := fakeServer(t, tc.serve)
			conn, err := Dial(ctx5s(t), addr, "x.onion:80", nil)
			if err == nil {
				conn.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q, want it to contain %q", err, tc.want)
			}
			var re *ReplyError
			if errors.As(err, &re) {
				t.Errorf("malformed reply gave a ReplyError: %v", err)
			}
		})
	}
}

func TestDialLimits(t *testing.T) {
	long := strings.Repeat("a", 256)
	for _, tc := range []struct {
		target string
		auth   *Auth
		want   string
	}{
		{long + ".onion:80", nil, "host name"},
		{"x.onion:80", &Auth{Username: long}, "at most 255"},
		{"x.onion:80", &Auth{Username: "u", Password: long}, "at most 255"},
		{"x.onion", nil, "bad target"},
		{"x.onion:0", nil, "bad port"},
		{"x.onion:99999", nil, "bad port"},
		{":80", nil, "host name"},
	} {
		// The proxy address is unused: the request is refused first.
		_, err := Dial(ctx5s(t), "127.0.0.1:1", tc.target, tc.auth)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.20s: got %v, want %q", tc.target, err, tc.want)
		}
	}
	// 255 bytes is allowed.
	addr, _ := fakeServer(t, func(c net.Conn) error {
		readRequest(c, 2, true)
		_, err := c.Write(okReply)
		return err
	})
	limit := strings.Repeat("b", 255)
	conn, err := Dial(ctx5s(t), addr, limit[:249]+".onion:80", &Auth{Username: limit, Password: limit})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

func TestDialContext(t *testing.T) {
	// A proxy that never answers: the deadline ends the handshake.
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	addr, _ := fakeServer(t, func(c net.Conn) error { <-hang; return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Dial(ctx, addr, "x.onion:80", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Dial returned after %v", d)
	}

	// Cancellation ends it too, without a deadline.
	addr, _ = fakeServer(t, func(c net.Conn) error { <-hang; return nil })
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = Dial(ctx, addr, "x.onion:80", nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}

	// The deadline does not outlive the handshake.
	addr, _ = fakeServer(t, func(c net.Conn) error {
		readRequest(c, 0, true)
		c.Write(okReply)
		time.Sleep(400 * time.Millisecond)
		_, err := c.Write([]byte("late"))
		return err
	})
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	conn, err := Dial(ctx, addr, "x.onion:80", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil {
		t.Errorf("read after the handshake's deadline: %v", err)
	}
}

func TestDialProxyDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Dial(ctx5s(t), addr, "x.onion:80", nil)
	if err == nil || !strings.Contains(err.Error(), "connecting to proxy") {
		t.Errorf("got %v", err)
	}
}

// TestDialUnixSocket reaches a proxy on a unix socket, named as tor's
// GETINFO net/listeners/socks names one ("unix:/path"): the daemon's
// checker tor has no TCP SOCKS port.
func TestDialUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "socks.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan *request, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r, err := readRequest(c, 0, true)
		if err != nil {
			return
		}
		got <- r
		c.Write([]byte{5, CodeOnionMissingAuth, 0, 1, 0, 0, 0, 0, 0, 0})
	}()
	_, err = Dial(ctx5s(t), "unix:"+path, "example.onion:80", nil)
	if !IsCode(err, CodeOnionMissingAuth) {
		t.Fatalf("Dial through unix:%s: %v, want the proxy's 0xF4", path, err)
	}
	if r := <-got; r.host != "example.onion" || r.port != 80 {
		t.Fatalf("request %+v", r)
	}
}

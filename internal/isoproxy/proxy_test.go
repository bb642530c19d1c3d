package isoproxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tails-server/internal/socks"
)

func TestSite(t *testing.T) {
	for host, want := range map[string]string{
		"www.example.com":   "example.com",
		"EXAMPLE.com.":      "example.com",
		"a.b.example.co.uk": "example.co.uk",
		"example.co.uk":     "example.co.uk",
		"alice.github.io":   "alice.github.io", // a private suffix of the list
		"cdn.site1.test":    "site1.test",
		"127.0.0.1":         "127.0.0.1",
		"2001:DB8::1":       "2001:db8::1",
		"[2001:db8::1]":     "2001:db8::1",
		"duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion":     "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion",
		"www.duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion": "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion",
		"localhost": "localhost",
		"com":       "com",
	} {
		if got := Site(host); got != want {
			t.Errorf("Site(%q) = %q, want %q", host, got, want)
		}
	}
}

// seen is one request the fake upstream received.
type seen struct {
	user, pass string
	atyp       byte
	host       string
	port       int
}

// fakeTor is a SOCKS5 server standing in for Tor's SocksPort: it insists
// on username/password authentication (as the proxy always sends it),
// records each request, answers with the code codeFor gives (default 0),
// and on success echoes the stream.
type fakeTor struct {
	addr    string
	codeFor func(host string) byte
	delay   time.Duration // before answering the request, as tor building a circuit
	mu      sync.Mutex
	reqs    []seen
}

func startFakeTor(t testing.TB) *fakeTor {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &fakeTor{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeTor) serve(c net.Conn) {
	defer c.Close()
	r := func(n int) []byte {
		b := make([]byte, n)
		if _, err := io.ReadFull(c, b); err != nil {
			panic(err)
		}
		return b
	}
	defer func() { recover() }()
	g := r(2)
	methods := r(int(g[1]))
	if g[0] != 5 || !bytes.Contains(methods, []byte{2}) {
		c.Write([]byte{5, 0xFF})
		return
	}
	c.Write([]byte{5, 2})
	a := r(2)
	user := string(r(int(a[1])))
	pass := string(r(int(r(1)[0])))
	c.Write([]byte{1, 0})
	h := r(4)
	var s seen
	s.user, s.pass, s.atyp = user, pass, h[3]
	switch h[3] {
	case 1:
		s.host = net.IP(r(4)).String()
	case 4:
		s.host = net.IP(r(16)).String()
	case 3:
		s.host = string(r(int(r(1)[0])))
	}
	p := r(2)
	s.port = int(p[0])<<8 | int(p[1])
	f.mu.Lock()
	f.reqs = append(f.reqs, s)
	code := byte(0)
	if f.codeFor != nil {
		code = f.codeFor(s.host)
	}
	delay := f.delay
	f.mu.Unlock()
	time.Sleep(delay)
	c.Write([]byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0})
	if code == 0 {
		io.Copy(c, c)
	}
}

func (f *fakeTor) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// startProxy runs a Server in front of upstream and returns its address.
func startProxy(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// roundTrip connects through the proxy with the real SOCKS client and
// checks that the stream carries bytes both ways.
func roundTrip(t *testing.T, proxy, target string, auth *socks.Auth) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := socks.Dial(ctx, proxy, target, auth)
	if err != nil {
		t.Fatalf("dial %s through the proxy: %v", target, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := []byte("hello " + target)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through the proxy: got %q, %v", got, err)
	}
}

func TestSiteMode(t *testing.T) {
	up := startFakeTor(t)
	s, proxy := startProxy(t, Config{Upstream: up.addr, Mode: ModeSite})
	targets := []string{
		"www.example.com:443", "cdn.example.com:80", "EXAMPLE.COM:443", // one site
		"www.other.org:443",
		"10.1.2.3:80", "10.1.2.3:8080", // one site: the address
		"10.1.2.4:80",
		"[2001:db8::1]:443",
		"abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion:80",
	}
	for _, tg := range targets {
		roundTrip(t, proxy, tg, nil)
	}
	reqs := up.requests()
	if len(reqs) != len(targets) {
		t.Fatalf("upstream saw %d requests, want %d", len(reqs), len(targets))
	}
	for i, r := range reqs {
		host, port, _ := net.SplitHostPort(targets[i])
		if r.host != strings.ToLower(host) && r.host != host || strconv.Itoa(r.port) != port {
			t.Errorf("request %d reached tor as %s:%d, want %s", i, r.host, r.port, targets[i])
		}
		if !strings.HasPrefix(r.user, usernamePrefix) || len(r.user) != len(usernamePrefix)+32 || r.pass != Password {
			t.Errorf("request %d: credentials %q/%q, want %s+32 hex digits and %q", i, r.user, r.pass, usernamePrefix, Password)
		}
		if strings.Contains(r.user, "example") || strings.Contains(r.user, "10.1") {
			t.Errorf("request %d: username %q shows the destination", i, r.user)
		}
	}
	if reqs[0].atyp != 3 || reqs[4].atyp != 1 || reqs[7].atyp != 4 {
		t.Errorf("address types %d, %d, %d reached tor; want 3 (name), 1 (IPv4), 4 (IPv6)", reqs[0].atyp, reqs[4].atyp, reqs[7].atyp)
	}
	groups := [][]int{{0, 1, 2}, {3}, {4, 5}, {6}, {7}, {8}}
	for gi, g := range groups {
		for _, i := range g[1:] {
			if reqs[i].user != reqs[g[0]].user {
				t.Errorf("%s and %s are one site but got usernames %s and %s", targets[g[0]], targets[i], reqs[g[0]].user, reqs[i].user)
			}
		}
		for _, h := range groups[gi+1:] {
			if reqs[g[0]].user == reqs[h[0]].user {
				t.Errorf("%s and %s are different sites but share username %s", targets[g[0]], targets[h[0]], reqs[g[0]].user)
			}
		}
	}
	if got := s.Username("static.example.com"); got != reqs[0].user {
		t.Errorf("Username(static.example.com) = %s, want %s", got, reqs[0].user)
	}
	// A client's own credentials split a site further, never merge.
	roundTrip(t, proxy, "www.example.com:443", &socks.Auth{Username: "tab1", Password: "x"})
	roundTrip(t, proxy, "www.example.com:443", &socks.Auth{Username: "tab2", Password: "x"})
	roundTrip(t, proxy, "img.example.com:443", &socks.Auth{Username: "tab2", Password: "x"})
	reqs = up.requests()
	n := len(reqs)
	if a, b, c := reqs[n-3].user, reqs[n-2].user, reqs[n-1].user; a == b || b != c || a == reqs[0].user {
		t.Errorf("with client credentials tab1, tab2, tab2 on one site: usernames %s %s %s; want the first different, the last two equal", a, b, c)
	}
	if st := settledStats(s, func(st Stats) bool { return st.Connected == uint64(n) }); st.Connected != uint64(n) || st.Refused != 0 {
		t.Errorf("stats %+v, want %d connected and none refused", st, n)
	}
}

func TestConnMode(t *testing.T) {
	up := startFakeTor(t)
	_, proxy := startProxy(t, Config{Upstream: up.addr, Mode: ModeConn})
	roundTrip(t, proxy, "www.example.com:443", nil)
	roundTrip(t, proxy, "www.example.com:443", nil)
	alice := &socks.Auth{Username: "alice", Password: "p"}
	roundTrip(t, proxy, "www.example.com:443", alice)
	roundTrip(t, proxy, "chat.other.org:5222", alice)
	roundTrip(t, proxy, "www.example.com:443", &socks.Auth{Username: "bob", Password: "p"})
	r := up.requests()
	if r[0].user == r[1].user {
		t.Error("two connections without credentials share a username in conn mode")
	}
	if r[2].user != r[3].user {
		t.Error("two connections with the same credentials got different usernames in conn mode")
	}
	if r[4].user == r[2].user || r[2].user == r[0].user || r[2].user == r[1].user {
		t.Error("different credentials share a username in conn mode")
	}
}

func TestSecretDecidesUsernames(t *testing.T) {
	a, b := make([]byte, 32), make([]byte, 32)
	rand.Read(a)
	rand.Read(b)
	k := siteKey("www.example.com", nil)
	if username(a, k) == username(b, k) {
		t.Error("two secrets give the same username")
	}
	if username(a, k) != username(a, siteKey("example.com", nil)) {
		t.Error("one secret gives two usernames to one site")
	}
}

func TestReservedUsernameRefused(t *testing.T) {
	up := startFakeTor(t)
	s, proxy := startProxy(t, Config{Upstream: up.addr})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := socks.Dial(ctx, proxy, "www.example.com:443", &socks.Auth{Username: "<torS0X>0", Password: "x"})
	if err == nil || !strings.Contains(err.Error(), "rejected the credentials") {
		t.Fatalf("a <torS0X> username: got %v, want an authentication failure", err)
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("tor saw %d requests after a refused client", n)
	}
	// A custom test from the policy package is honoured.
	_, proxy2 := startProxy(t, Config{Upstream: up.addr, Reserved: func(u string) bool { return u == "forbidden" }})
	if _, err := socks.Dial(ctx, proxy2, "a.example:1", &socks.Auth{Username: "forbidden", Password: "x"}); err == nil {
		t.Error("Config.Reserved was not used")
	}
	roundTrip(t, proxy, "www.example.com:443", nil) // still serving
	if st := settledStats(s, func(st Stats) bool { return st.Refused >= 1 }); st.Refused != 1 {
		t.Errorf("stats %+v: want 1 refused", st)
	}
}

func TestReplyCodesPassThrough(t *testing.T) {
	up := startFakeTor(t)
	codes := map[string]byte{
		"missing.auth.onion": socks.CodeOnionMissingAuth,
		"refused.example":    socks.CodeConnectionRefused,
		"gone.example":       socks.CodeHostUnreachable,
		"desc.example":       socks.CodeOnionDescNotFound,
		"ttl.example":        socks.CodeTTLExpired,
	}
	up.codeFor = func(h string) byte { return codes[h] }
	_, proxy := startProxy(t, Config{Upstream: up.addr})
	for host, code := range codes {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := socks.Dial(ctx, proxy, host+":80", nil)
		cancel()
		if !socks.IsCode(err, code) {
			t.Errorf("%s: client got %v, want reply code %#02x", host, err, code)
		}
	}
	roundTrip(t, proxy, "fine.example:80", nil)
}

func TestUpstreamDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	s, proxy := startProxy(t, Config{Upstream: dead})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := socks.Dial(ctx, proxy, "www.example.com:443", nil)
	if !socks.IsCode(err, socks.CodeGeneralFailure) {
		t.Errorf("tor down: client got %v, want general failure (0x01)", err)
	}
	if st := settledStats(s, func(st Stats) bool { return st.Failed >= 1 }); st.Failed != 1 {
		t.Errorf("stats %+v, want 1 failed", st)
	}
}

// TestBadRequests sends what the proxy cannot serve, byte for byte, and
// checks the refusal, that the connection is closed, and that the proxy
// goes on serving.
func TestBadRequests(t *testing.T) {
	up := startFakeTor(t)
	s, proxy := startProxy(t, Config{Upstream: up.addr})
	hello := []byte{5, 1, 0}
	for _, tc := range []struct {
		name string
		send []byte
		want []byte // exactly what the client must read before EOF
	}{
		{"socks4", []byte{4, 1, 0, 80, 127, 0, 0, 1, 0}, []byte{0, 0x5B, 0, 0, 0, 0, 0, 0}},
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []byte(httpRefusal)},
		{"version 6", []byte{6, 1, 0}, []byte{5, 0xFF}},
		{"no method", []byte{5, 0}, []byte{5, 0xFF}},
		{"gssapi only", []byte{5, 1, 1}, []byte{5, 0xFF}},
		{"bind", cat(hello, []byte{5, 2, 0, 1, 127, 0, 0, 1, 0, 80}), cat([]byte{5, 0}, reply(7))},
		{"udp associate", cat(hello, []byte{5, 3, 0, 1, 127, 0, 0, 1, 0, 80}), cat([]byte{5, 0}, reply(7))},
		{"resolve (tor extension)", cat(hello, []byte{5, 0xF0, 0, 3, 1, 'a', 0, 80}), cat([]byte{5, 0}, reply(7))},
		{"address type 9", cat(hello, []byte{5, 1, 0, 9, 1, 2, 3, 4, 0, 80}), cat([]byte{5, 0}, reply(8))},
		{"empty name", cat(hello, []byte{5, 1, 0, 3, 0, 0, 80}), cat([]byte{5, 0}, reply(1))},
		{"name with a space", cat(hello, []byte{5, 1, 0, 3, 3, 'a', ' ', 'b', 0, 80}), cat([]byte{5, 0}, reply(1))},
		{"name with NUL", cat(hello, []byte{5, 1, 0, 3, 3, 'a', 0, 'b', 0, 80}), cat([]byte{5, 0}, reply(1))},
		{"port 0", cat(hello, []byte{5, 1, 0, 1, 127, 0, 0, 1, 0, 0}), cat([]byte{5, 0}, reply(1))},
		{"request version 4", cat(hello, []byte{4, 1, 0, 1, 127, 0, 0, 1, 0, 80}), cat([]byte{5, 0}, reply(1))},
		{"auth version 5", []byte{5, 1, 2, 5, 1, 'u', 1, 'p'}, []byte{5, 2, 1, 1}},
		{"reserved username", cat([]byte{5, 1, 2, 1, 9}, []byte("<torS0X>1"), []byte{1, 'p'}), []byte{5, 2, 1, 1}},
		{"truncated request", cat(hello, []byte{5, 1, 0, 3, 20, 'a'}), []byte{5, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", proxy)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Write(tc.send)
			if tc.name == "truncated request" {
				c.(*net.TCPConn).CloseWrite()
			}
			got, err := io.ReadAll(c) // ends only when the proxy closes
			if err != nil {
				t.Fatalf("reading the refusal: %v (connection not closed?)", err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("client read %q, want %q", got, tc.want)
			}
		})
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("tor saw %d requests from bad clients", n)
	}
	roundTrip(t, proxy, "www.example.com:443", nil)
	if st := settledStats(s, func(st Stats) bool { return st.Refused >= 17 }); st.Refused != 17 {
		t.Errorf("stats %+v, want 17 refused", st)
	}
}

// settledStats returns the proxy's counters once done says they are
// complete, or after 5 s: a client learns of its refusal from the reply,
// which the proxy writes before it counts the refusal.
func settledStats(s *Server, done func(Stats) bool) Stats {
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := s.Stats()
		if done(st) || time.Now().After(deadline) {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPipelinedClient sends greeting, request and the first data in one
// write, as optimistic clients do: nothing may be lost.
func TestPipelinedClient(t *testing.T) {
	up := startFakeTor(t)
	_, proxy := startProxy(t, Config{Upstream: up.addr})
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	data := []byte("GET / HTTP/1.0\r\n\r\n")
	c.Write(cat([]byte{5, 1, 0, 5, 1, 0, 3, 11}, []byte("example.com"), []byte{0, 80}, data))
	want := cat([]byte{5, 0}, reply(0), data)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %q, %v; want %q", got, err, want)
	}
}

// TestBulkAndHalfClose pushes 16 MiB through and checks that a client's
// half-close reaches the far side and the rest still comes back.
func TestBulkAndHalfClose(t *testing.T) {
	up := startFakeTor(t)
	_, proxy := startProxy(t, Config{Upstream: up.addr})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := socks.Dial(ctx, proxy, "bulk.example:80", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := make([]byte, 16<<20)
	rand.Read(payload)
	go func() {
		c.Write(payload)
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c) // the echo ends when our half-close got through
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("echoed %d bytes (%v), want the same %d", len(got), err, len(payload))
	}
}

func TestCloseEndsStreams(t *testing.T) {
	up := startFakeTor(t)
	s, err := New(Config{Upstream: up.addr})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	c, err := socks.Dial(context.Background(), ln.Addr().String(), "x.example:80", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stream still open after Close: %v", err)
	}
}

// TestSlowTor: tor may answer long after the client's handshake ended
// (an onion service, a slow circuit); the handshake deadline must not cut
// the reply.
func TestSlowTor(t *testing.T) {
	up := startFakeTor(t)
	up.delay = 600 * time.Millisecond
	_, proxy := startProxy(t, Config{Upstream: up.addr, HandshakeTimeout: 200 * time.Millisecond})
	roundTrip(t, proxy, "slow.example:80", nil)
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []Config{{}, {Upstream: "9050"}, {Upstream: "127.0.0.1:9050", Mode: "tab"}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

package isoproxy

import (
	"context"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"tails-server/internal/socks"
)

// BenchmarkAddedConnectLatency measures what the proxy adds to a SOCKS
// connect when the upstream answers at once (an in-process SOCKS server
// on loopback, standing in for Tor with a circuit ready): the median of
// (connect through the proxy) − (connect straight to the upstream with a
// username), interleaved so both see the same machine load. Target: under
// 1 ms. The e2e benchmark does the same through a real tor.
func BenchmarkAddedConnectLatency(b *testing.B) {
	up := startFakeTor(b)
	s, err := New(Config{Upstream: up.addr})
	if err != nil {
		b.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go s.Serve(ln)
	defer s.Close()
	proxy := ln.Addr().String()
	auth := &socks.Auth{Username: "tsiso-0123456789abcdef", Password: Password}
	dial := func(addr string, a *socks.Auth) time.Duration {
		start := time.Now()
		c, err := socks.Dial(context.Background(), addr, "www.example.com:443", a)
		d := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
		return d
	}
	var direct, via []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		direct = append(direct, float64(dial(up.addr, auth).Microseconds()))
		via = append(via, float64(dial(proxy, nil).Microseconds()))
	}
	b.ReportMetric(median(direct), "µs-direct-median")
	b.ReportMetric(median(via), "µs-via-proxy-median")
	b.ReportMetric(median(via)-median(direct), "µs-added-median")
}

// BenchmarkLocalThroughput pushes 64 MiB per iteration through the proxy
// to a local sink, to show what the splice path costs without Tor.
func BenchmarkLocalThroughput(b *testing.B) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				g := make([]byte, 3+2+32+1+32+4+256)
				io.ReadAtLeast(c, g, 3)
				c.Write([]byte{5, 2})
				io.ReadAtLeast(c, g, 1)
				c.Write([]byte{1, 0})
				io.ReadAtLeast(c, g, 1)
				c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
				io.Copy(io.Discard, c)
				c.Write([]byte{1})
			}()
		}
	}()
	s, _ := New(Config{Upstream: ln.Addr().String()})
	pl, _ := net.Listen("tcp", "127.0.0.1:0")
	go s.Serve(pl)
	defer s.Close()
	const size = 64 << 20
	buf := make([]byte, 1<<20)
	b.SetBytes(size)
	for i := 0; i < b.N; i++ {
		c, err := socks.Dial(context.Background(), pl.Addr().String(), "x.example:80", nil)
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < size; n += len(buf) {
			c.Write(buf)
		}
		c.(*net.TCPConn).CloseWrite()
		io.ReadAll(c)
		c.Close()
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

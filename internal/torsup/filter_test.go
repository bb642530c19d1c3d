package torsup

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// filterAll is a fake control-port filter that refuses everything but
// authentication, as onion-grater does for a client no profile serves.
func filterAll(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd, _, _ := strings.Cut(strings.TrimSpace(l), " "); cmd {
					case "PROTOCOLINFO":
						c.Write([]byte("250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor=\"0.4.8.16\"\r\n250 OK\r\n"))
					case "AUTHENTICATE":
						c.Write([]byte("250 OK\r\n"))
					default:
						c.Write([]byte("510 Command filtered\r\n"))
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSystemModeFiltered: attached to a control port whose filter refuses
// the daemon's commands, the supervisor says so in one line naming the
// profile to install (once, not at every retry), shows it in tor's
// status, and keeps trying.
func TestSystemModeFiltered(t *testing.T) {
	var logs syncBuf
	s := New(Config{Mode: System, Control: filterAll(t), Log: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for s.Status().Restarts < 1 || !strings.Contains(s.Status().Summary, GraterProfile) {
		if time.Now().After(deadline) {
			t.Fatalf("status %+v\nlog:\n%s", s.Status(), logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := s.Status(); st.State != "down" || strings.Contains(st.Summary, "\n") || !strings.Contains(st.Summary, "refused GETINFO") {
		t.Fatalf("status %+v", st)
	}
	var warn []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `msg="tor's control port filter refused`) {
			warn = append(warn, l)
		}
	}
	if len(warn) != 1 || !strings.Contains(warn[0], "GETINFO") || !strings.Contains(warn[0], GraterProfile) || !strings.Contains(warn[0], "restart onion-grater") {
		t.Fatalf("log lines about the filter %q\nlog:\n%s", warn, logs.String())
	}
}

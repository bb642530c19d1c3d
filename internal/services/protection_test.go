package services

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"tails-server/internal/catalog"
	"tails-server/internal/onionkey"
	"tails-server/internal/store"
	"tails-server/internal/tor"
)

// fakeControl answers ADD_ONION lines on the far end of a pipe: a line
// with the PoW keywords gets powReply (a refusal, or "" for success), any
// other success. It returns the lines it got.
func fakeControl(t *testing.T, addr, powReply string) (*tor.Conn, <-chan string) {
	t.Helper()
	a, b := net.Pipe()
	c := tor.NewConn(a)
	t.Cleanup(func() { c.Close(); b.Close() })
	lines := make(chan string, 4)
	go func() {
		br := bufio.NewReader(b)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			l = strings.TrimSuffix(l, "\r\n")
			lines <- l
			if strings.Contains(l, "PoWDefensesEnabled") && powReply != "" {
				b.Write([]byte(powReply + "\r\n"))
				continue
			}
			b.Write([]byte("250-ServiceID=" + addr + "\r\n250 OK\r\n"))
		}
	}()
	return c, lines
}

func protectionService(t *testing.T, options map[string]string) (*Manager, *service, tor.AddOnionRequest) {
	t.Helper()
	k, err := onionkey.GenerateServiceKey()
	if err != nil {
		t.Fatal(err)
	}
	s := &service{def: &catalog.Service{Name: "web", MaxStreams: 64},
		rec: &store.Service{Name: "web", Options: options}, key: k}
	m := &Manager{log: slog.New(slog.DiscardHandler)}
	return m, s, tor.AddOnionRequest{Key: k, Ports: []tor.PortMapping{{Virtual: 80, Target: "8080"}}}
}

func TestProtectDefaults(t *testing.T) {
	m, s, req := protectionService(t, nil)
	s.mu.Lock()
	m.protect(s, &req)
	s.mu.Unlock()
	if req.MaxStreams != 64 || len(req.Flags) != 1 || req.Flags[0] != "MaxStreamsCloseCircuit" {
		t.Errorf("max-streams: %d %v, want the description's 64 and MaxStreamsCloseCircuit", req.MaxStreams, req.Flags)
	}
	if req.PoW == nil || *req.PoW != (tor.PoWParams{QueueRate: 250, QueueBurst: 2500}) {
		t.Errorf("PoW %+v, want on with tor's defaults", req.PoW)
	}

	m, s, req = protectionService(t, map[string]string{catalog.OptPoW: "false", catalog.OptMaxStreams: "0"})
	s.mu.Lock()
	m.protect(s, &req)
	s.mu.Unlock()
	if req.PoW != nil || req.MaxStreams != 0 || len(req.Flags) != 0 {
		t.Errorf("pow false, max-streams 0: %+v", req)
	}

	m, s, req = protectionService(t, map[string]string{catalog.OptPoWQueueRate: "10", catalog.OptPoWQueueBurst: "20"})
	m.pow = map[int]tor.PoWSupport{0: {Reason: "tor 0.4.8.16 is older than 0.4.9.2"}}
	s.mu.Lock()
	m.protect(s, &req)
	w := s.powWarning()
	s.mu.Unlock()
	if req.PoW != nil || len(w) != 1 || !strings.Contains(w[0], "proof-of-work: not supported by this tor (tor 0.4.8.16 is older") {
		t.Errorf("measured unsupported: PoW %+v, warnings %q", req.PoW, w)
	}
	m.pow[0] = tor.PoWSupport{Supported: true}
	s.mu.Lock()
	m.protect(s, &req)
	w = s.powWarning()
	s.mu.Unlock()
	if req.PoW == nil || *req.PoW != (tor.PoWParams{QueueRate: 10, QueueBurst: 20}) || len(w) != 0 {
		t.Errorf("supported, rate 10 burst 20: PoW %+v, warnings %q", req.PoW, w)
	}
}

func TestAddOnionPoWFallback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name, reply string
		lines       int
		warn        bool
	}{
		{"accepted", "", 1, false},
		{"old tor", `512 Unrecognized keyword argument "PoWDefensesEnabled"`, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, s, req := protectionService(t, nil)
			c, lines := fakeControl(t, s.key.Address(), tc.reply)
			s.mu.Lock()
			m.protect(s, &req)
			s.mu.Unlock()
			if err := m.addOnion(ctx, s, c, req); err != nil {
				t.Fatalf("addOnion: %v", err)
			}
			first := <-lines
			if !strings.Contains(first, " PoWDefensesEnabled=1 PoWQueueRate=250 PoWQueueBurst=2500 ") {
				t.Errorf("first ADD_ONION %q lacks the PoW keywords", first)
			}
			if tc.lines == 2 {
				second := <-lines
				if strings.Contains(second, "PoW") || !strings.Contains(second, "MaxStreams=64") {
					t.Errorf("the fallback ADD_ONION %q: want it without PoW, with max-streams", second)
				}
			}
			s.mu.Lock()
			w := s.powWarning()
			s.mu.Unlock()
			if tc.warn != (len(w) == 1 && strings.HasPrefix(w[0], "proof-of-work: not supported by this tor")) {
				t.Errorf("warnings %q", w)
			}
		})
	}

	// Another refusal is not hidden by a retry.
	m, s, req := protectionService(t, nil)
	c, _ := fakeControl(t, s.key.Address(), "550 Onion address collision")
	s.mu.Lock()
	m.protect(s, &req)
	s.mu.Unlock()
	if err := m.addOnion(ctx, s, c, req); err == nil || !strings.Contains(err.Error(), "collision") {
		t.Errorf("addOnion with a collision: %v", err)
	}
}

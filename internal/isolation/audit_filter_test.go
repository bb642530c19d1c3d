package isolation

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"tails-server/internal/tor"
)

// TestAuditFiltered: behind a control-port filter that refuses stream and
// circuit events (onion-grater with tails-server's profile), the audit
// ends at once with one line saying why, instead of retrying for ever.
func TestAuditFiltered(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := tor.NewConn(a)
	defer c.Close()
	sent := make(chan string, 100)
	go func() {
		br := bufio.NewReader(b)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			sent <- strings.TrimSpace(l)
			b.Write([]byte("510 Command filtered\r\n"))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	au := &Auditor{Policy: Default(), Connect: func(context.Context) (*tor.Conn, func(), error) { return c, func() {}, nil }}
	rep, err := au.Run(ctx)
	if err == nil || rep != nil {
		t.Fatalf("audit behind a filter: %v, %+v", err, rep)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "refused SETEVENTS") || !strings.Contains(msg, "on purpose") {
		t.Fatalf("error %q", msg)
	}
	if n := len(sent); n != 1 {
		t.Fatalf("%d commands sent, want the one SETEVENTS", n)
	}
}

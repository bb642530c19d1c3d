package tor

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeTor is the far end of a net.Pipe, scripted by a test.
type fakeTor struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func newFake(t *testing.T) (*Conn, *fakeTor) {
	t.Helper()
	a, b := net.Pipe()
	c := NewConn(a)
	f := &fakeTor{t: t, conn: b, br: bufio.NewReader(b)}
	t.Cleanup(func() {
		c.Close()
		b.Close()
	})
	return c, f
}

// expect reads one command line and checks it.
func (f *fakeTor) expect(want string) {
	f.t.Helper()
	got := f.readLine()
	if got != want {
		f.t.Fatalf("tor got command %q, want %q", got, want)
	}
}

func (f *fakeTor) readLine() string {
	f.t.Helper()
	f.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := f.br.ReadString('\n')
	if err != nil {
		f.t.Fatalf("fake tor reading a command: %v", err)
	}
	if !strings.HasSuffix(l, "\r\n") {
		f.t.Fatalf("command %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// send writes lines, each followed by CRLF.
func (f *fakeTor) send(lines ...string) {
	f.t.Helper()
	f.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := f.conn.Write([]byte(strings.Join(lines, "\r\n") + "\r\n")); err != nil {
		f.t.Fatalf("fake tor writing: %v", err)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// async runs f in a goroutine and returns a channel with its error.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

func wait(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
		return nil
	}
}

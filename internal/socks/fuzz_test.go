package socks

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// replyConn is a net.Conn whose peer sends fixed bytes.
type replyConn struct {
	r   *bytes.Reader
	out bytes.Buffer
}

func (c *replyConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *replyConn) Write(b []byte) (int, error)      { return c.out.Write(b) }
func (c *replyConn) Close() error                     { return nil }
func (c *replyConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *replyConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *replyConn) SetDeadline(time.Time) error      { return nil }
func (c *replyConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replyConn) SetWriteDeadline(time.Time) error { return nil }

// wantReply returns how many bytes a well-formed answer to the handshake
// takes at the start of in (method choice, authentication status, connect
// reply), or -1 if in does not start with one that grants the connection;
// refused is the reply code when the proxy refused the CONNECT.
func wantReply(in []byte, withAuth bool) (n int, refused byte) {
	method := methodNone
	if withAuth {
		method = methodUserPass
	}
	if len(in) < 2 || in[0] != 5 || in[1] != method {
		return -1, 0
	}
	n = 2
	if withAuth {
		if len(in) < n+2 || in[n] != 1 || in[n+1] != 0 {
			return -1, 0
		}
		n += 2
	}
	if len(in) < n+4 || in[n] != 5 {
		return -1, 0
	}
	if in[n+1] != 0 {
		return -1, in[n+1]
	}
	atyp := in[n+3]
	n += 4
	switch atyp {
	case atypIPv4:
		n += 4
	case atypIPv6:
		n += 16
	case atypDomain:
		if len(in) < n+1 {
			return -1, 0
		}
		n += 1 + int(in[n])
	default:
		return -1, 0
	}
	n += 2
	if len(in) < n {
		return -1, 0
	}
	return n, 0
}

// FuzzSOCKSReply feeds arbitrary proxy answers to the client side of the
// handshake: it never panics, succeeds exactly when the answers are well
// formed and grant the connection, then has read the replies and not a
// byte of the stream after them; a refusal is a *ReplyError with the
// proxy's code, and every other error is one line starting "socks: ".
func FuzzSOCKSReply(f *testing.F) {
	f.Add([]byte{5, 0, 5, 0, 0, 1, 127, 0, 0, 1, 0, 80}, false)
	f.Add([]byte{5, 2, 1, 0, 5, 0, 0, 1, 127, 0, 0, 1, 0, 80, 'G', 'E', 'T'}, true)
	f.Add([]byte{5, 0, 5, 0, 0, 3, 9, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', 0, 80}, false)
	f.Add(append([]byte{5, 0, 5, 0, 0, 4}, make([]byte, 18)...), false)
	f.Add([]byte{5, 0, 5, 0xf4, 0, 1, 0, 0, 0, 0, 0, 0}, false)
	f.Add([]byte{5, 0xff}, true)
	f.Add([]byte{5, 2, 1, 1}, true)
	f.Add([]byte{4, 0x5a, 0, 80, 127, 0, 0, 1}, false)
	f.Add([]byte{5, 0, 5, 0, 0, 9}, false)
	f.Fuzz(func(t *testing.T, in []byte, withAuth bool) {
		var auth *Auth
		if withAuth {
			auth = &Auth{Username: "u", Password: "p"}
		}
		req, err := connectRequest("example.onion:80")
		if err != nil {
			t.Fatal(err)
		}
		c := &replyConn{r: bytes.NewReader(in)}
		err = handshake(context.Background(), c, req, auth)
		n, refused := wantReply(in, withAuth)
		if err == nil {
			if n < 0 {
				t.Fatalf("accepted a malformed or refusing answer %x", in)
			}
			if read := len(in) - c.r.Len(); read != n {
				t.Fatalf("answer %x: read %d bytes, the replies are %d", in, read, n)
			}
			return
		}
		if n >= 0 {
			t.Fatalf("refused a well-formed answer %x: %v", in, err)
		}
		var re *ReplyError
		if errors.As(err, &re) != (refused != 0) || (re != nil && re.Code != refused) {
			t.Fatalf("answer %x: error %v, want reply code %#02x", in, err, refused)
		}
		if msg := err.Error(); strings.ContainsAny(msg, "\r\n") || (re == nil && !strings.HasPrefix(msg, "socks: ")) {
			t.Fatalf("error %q", msg)
		}
	})
}

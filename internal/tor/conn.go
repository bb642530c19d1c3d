// Package tor talks to a tor process: a client for Tor's control protocol
// (control-spec.txt) and a launcher for a tor of our own.
//
// The client is small and complete for what tails-server needs:
// authentication (SAFECOOKIE, COOKIE, HASHEDPASSWORD, NULL), GETINFO,
// GETCONF, SETCONF, SIGNAL, asynchronous events, ADD_ONION / DEL_ONION with
// v3 client authorization, and ONION_CLIENT_AUTH_*. It is written here
// rather than taken from github.com/cretz/bine, which lacks ClientAuthV3 and
// ONION_CLIENT_AUTH_* and does not check its arguments.
//
// Every argument is checked before anything is written to the socket: no
// CR, LF or NUL anywhere, no white space where it would split one argument
// into several, no quote or backslash inside values we quote, keys, flags
// and event names matched against strict patterns, ports in 1..65535 and
// onion addresses checked with package onionkey. A refusal is an *ArgError
// naming the argument (and never quoting a secret). An error reply is a
// *ReplyError; a control-port filter's refusal ("510 Command filtered",
// Tails' onion-grater) is a *FilteredError that can carry a hint.
//
// A Conn is safe for concurrent use. One reader goroutine reads everything
// tor sends: replies go to the commands waiting for them, in order;
// asynchronous events (status 650) go to subscribers (see Subscribe).
package tor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// ErrClosed is the error of commands on a Conn closed by Close.
var ErrClosed = errors.New("tor: control connection closed")

// Conn is a control connection to tor. It is safe for concurrent use.
type Conn struct {
	rwc io.ReadWriteCloser

	writeMu sync.Mutex // held while writing a command and queueing its waiter

	mu      sync.Mutex // guards pending, err, pinfo, filterHint, filterReport
	pending []chan result
	err     error
	pinfo   *ProtocolInfo

	filterHint   string               // see OnFiltered
	filterReport func(*FilteredError) // see OnFiltered

	done      chan struct{}
	closeOnce sync.Once

	subMu   sync.Mutex // serializes changes of the subscription set
	evMu    sync.Mutex // guards subs and evSent
	subs    map[*subscriber]struct{}
	evSent  string // the event list of the last successful SETEVENTS
	evClose bool   // the connection is gone: no new subscribers
}

type result struct {
	r   *reply
	err error
}

// Dial connects to tor's control port: network "tcp" with an address such
// as "127.0.0.1:9051", or "unix" with a socket path. The context bounds the
// connection attempt only.
func Dial(ctx context.Context, network, addr string) (*Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return nil, fmt.Errorf("tor: unsupported network %q (want tcp or unix)", network)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("tor: dialing control port: %w", err)
	}
	return NewConn(c), nil
}

// NewConn returns a Conn speaking the control protocol over c, and starts
// its reader goroutine. The Conn owns c and closes it.
func NewConn(c io.ReadWriteCloser) *Conn {
	conn := &Conn{
		rwc:  c,
		done: make(chan struct{}),
		subs: map[*subscriber]struct{}{},
	}
	go conn.readLoop()
	return conn
}

// Close closes the connection. Commands waiting for a reply fail with
// ErrClosed and event channels are closed. Onions added on this connection
// without the Detach flag die with it.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	return nil
}

// Done returns a channel closed when the connection is gone: closed by
// Close, by tor (tor exited) or after a protocol error.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection is gone, or nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// fail ends the connection with err (once) and wakes everyone waiting.
func (c *Conn) fail(err error) {
	c.closeOnce.Do(func() {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = errors.New("tor: control connection closed by tor")
		} else if errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) {
			err = ErrClosed
		}
		c.mu.Lock()
		c.err = err
		pending := c.pending
		c.pending = nil
		c.mu.Unlock()
		c.rwc.Close()
		for _, ch := range pending {
			ch <- result{err: err}
		}
		c.evMu.Lock()
		c.evClose = true
		for s := range c.subs {
			s.close()
		}
		c.subs = map[*subscriber]struct{}{}
		c.evMu.Unlock()
		close(c.done)
	})
}

func (c *Conn) readLoop() {
	br := bufio.NewReaderSize(c.rwc, 64<<10)
	for {
		r, err := readReply(br)
		if err != nil {
			c.fail(err)
			return
		}
		if r.Code == 650 {
			c.dispatch(r)
			continue
		}
		c.mu.Lock()
		if len(c.pending) == 0 {
			// A reply nobody asked for: tor does not send these, so the
			// stream is out of step with our commands.
			c.mu.Unlock()
			c.fail(fmt.Errorf("%w: reply %d without a command", errProtocol, r.Code))
			return
		}
		ch := c.pending[0]
		c.pending = c.pending[1:]
		c.mu.Unlock()
		ch <- result{r: r}
	}
}

// deadliner is what net.Conn offers to bound a write.
type deadliner interface {
	SetWriteDeadline(time.Time) error
}

// roundTrip sends one command line (without CRLF) and returns tor's reply,
// which may be an error reply (see do). The caller has validated every
// argument; roundTrip checks the whole line once more for line breaks.
func (c *Conn) roundTrip(ctx context.Context, line string) (*reply, error) {
	if strings.ContainsAny(line, "\r\n\x00") {
		return nil, errors.New("tor: refusing to send a command holding CR, LF or NUL")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ch := make(chan result, 1)
	c.writeMu.Lock()
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		c.writeMu.Unlock()
		return nil, err
	}
	c.pending = append(c.pending, ch)
	c.mu.Unlock()
	err := c.write(ctx, line+"\r\n")
	c.writeMu.Unlock()
	if err != nil {
		// A partial write leaves the protocol out of step: the
		// connection cannot be used any more.
		c.fail(fmt.Errorf("tor: writing command: %w", err))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, c.Err()
	}
	select {
	case res := <-ch:
		return res.r, res.err
	case <-ctx.Done():
		// The reply still comes, and the reader drops it into ch.
		return nil, ctx.Err()
	}
}

func (c *Conn) write(ctx context.Context, s string) error {
	if d, ok := c.rwc.(deadliner); ok {
		dl, _ := ctx.Deadline()
		d.SetWriteDeadline(dl)
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			defer close(fired)
			d.SetWriteDeadline(time.Unix(1, 0))
		})
		// If the context ended while we wrote, let the callback finish
		// before the next write sets its own deadline.
		defer func() {
			if !stop() {
				<-fired
			}
		}()
	}
	_, err := io.WriteString(c.rwc, s)
	return err
}

// do sends a command and turns an error reply into a *ReplyError, or a
// *FilteredError when a control-port filter refused the command.
func (c *Conn) do(ctx context.Context, line string) (*reply, error) {
	r, err := c.roundTrip(ctx, line)
	if err != nil {
		return nil, err
	}
	if err := replyErr(r); err != nil {
		return nil, c.filtered(line, err)
	}
	return r, nil
}

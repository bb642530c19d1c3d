package fileshare

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// The end of a share after its last allowed download (Config.MaxDownloads,
// Config.AutoStop): from the download that reaches the limit on, every new
// request is refused, but that download itself must arrive whole. The
// handler has written it into its connection when it returns; the bytes
// then still cross tor's buffers and the circuit. Withdrawing the onion at
// once would cut them, so the stop waits for that connection to close
// (the visitor's client closes its stream once it has everything, and tor
// then closes the backend's connection), at most DrainTimeout, before it
// calls OnAutoStop.

// DefaultDrainTimeout is Config.DrainTimeout when unset: long enough for
// the last few hundred KiB in flight on a slow circuit, short enough that
// a browser keeping its connection open does not keep the onion up long.
const DefaultDrainTimeout = 30 * time.Second

// conns tracks the handler's open connections (localhttp.ConnTracker).
type conns struct {
	mu   sync.Mutex
	open map[net.Conn]*conn
}

// conn is one connection; closed is closed with it.
type conn struct {
	closed chan struct{}
	once   sync.Once
}

func (c *conn) close() { c.once.Do(func() { close(c.closed) }) }

type connKey struct{}

// sendBuffer is the kernel's send buffer of each connection. Left to
// itself, Linux grows it to megabytes on loopback, where tor reads from:
// a download would then look done, in the history and the progress, while
// most of it still waits in buffers. Kept small, what the handler has
// written is what tor has taken (tor then holds at most its stream
// window, some hundred KiB), at no cost in speed on loopback.
const sendBuffer = 128 << 10

// ConnContext puts the connection's tracker in its requests' contexts,
// and bounds its send buffer.
func (h *Handler) ConnContext(ctx context.Context, nc net.Conn) context.Context {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetWriteBuffer(sendBuffer)
	}
	c := &conn{closed: make(chan struct{})}
	h.conns.mu.Lock()
	if h.conns.open == nil {
		h.conns.open = map[net.Conn]*conn{}
	}
	h.conns.open[nc] = c
	h.conns.mu.Unlock()
	return context.WithValue(ctx, connKey{}, c)
}

// ConnState notes the end of a connection.
func (h *Handler) ConnState(nc net.Conn, st http.ConnState) {
	if st != http.StateClosed && st != http.StateHijacked {
		return
	}
	h.conns.mu.Lock()
	c := h.conns.open[nc]
	delete(h.conns.open, nc)
	h.conns.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// limit is the number of complete downloads after which the share ends,
// 0 for none: MaxDownloads, or 1 with AutoStop.
func (c Config) limit() int64 {
	n := int64(c.MaxDownloads)
	if c.AutoStop && (n <= 0 || n > 1) {
		n = 1
	}
	if n < 0 {
		n = 0
	}
	return n
}

// downloaded counts one complete download of the share (a file or an
// archive) made by r, and ends the share when it reaches the limit.
func (h *Handler) downloaded(r *http.Request) {
	n := h.shareDownloads.Add(1)
	limit := h.cfg.limit()
	if limit == 0 || n < limit {
		return
	}
	h.once.Do(func() {
		h.stopped.Store(true)
		c, _ := r.Context().Value(connKey{}).(*conn)
		go func() {
			began := time.Now()
			closed := h.drain(c)
			h.drained.Store(&Drain{Took: time.Since(began), Closed: closed})
			if h.cfg.OnAutoStop != nil {
				h.cfg.OnAutoStop()
			}
		}()
	})
}

// drain waits until c is closed, at most the drain timeout, and reports
// whether it was.
func (h *Handler) drain(c *conn) bool {
	if c == nil {
		return false // not served through a tracking server (a test recorder)
	}
	t := time.NewTimer(h.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-c.closed:
		return true
	case <-t.C:
		return false
	}
}

// Drain is how the end of a share waited for its last download.
type Drain struct {
	// Took is how long the wait lasted.
	Took time.Duration
	// Closed is true when the download's connection closed, false when
	// the drain timeout ran out first.
	Closed bool
}

// Drained returns how the share's end waited for its last download, or
// nil while it has not ended (or is still waiting).
func (h *Handler) Drained() *Drain { return h.drained.Load() }

// ShareDownloads is the number of complete downloads of the share (files
// and archives, each once) since the handler started.
func (h *Handler) ShareDownloads() int64 { return h.shareDownloads.Load() }

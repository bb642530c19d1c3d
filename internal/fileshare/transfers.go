package fileshare

import (
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Transfer history: every download (of a file or a zip archive) and every
// upload, with its start, its end, the bytes that went through and
// whether it completed, kept in memory for the host (OnionShare's
// history), the last HistorySize of them. No visitor's address is known
// here, so none is kept. The transfers under way are listed with their
// bytes so far, for a live progress bar.

// Kinds of transfer.
const (
	KindDownload = "download"
	KindUpload   = "upload"
)

// HistorySize is how many finished transfers a History keeps.
const HistorySize = 100

// Transfer is one download or upload.
type Transfer struct {
	// Kind is KindDownload or KindUpload.
	Kind string
	// Name is what was downloaded: the path of a file in the shared
	// folder, or the name of a zip archive ("shared.zip" for the whole
	// share). Empty for an upload.
	Name string
	// Start and End are UTC; End is zero while the transfer is under way.
	Start, End time.Time
	// Bytes went through so far: of the response body for a download, of
	// the request (multipart form included) for an upload.
	Bytes int64
	// Size is the bytes expected (a file's size, an upload's declared
	// length), or -1 when unknown (a zip archive, a chunked upload).
	Size int64
	// Complete is true for a download that reached the file's (or the
	// archive's) last byte, an upload whose files were all stored.
	Complete bool
}

// History is the transfer history of a share. Its methods are safe for
// concurrent use.
type History struct {
	mu   sync.Mutex
	size int
	done []Transfer // oldest first
	live map[*live]struct{}
	now  func() time.Time
	// totals counts every finished transfer by kind and completion, not
	// only the kept ones (Totals).
	totals map[TotalKey]int64
}

// TotalKey is one count of Totals: a kind of transfer, complete or not.
type TotalKey struct {
	Kind     string
	Complete bool
}

// Totals returns how many transfers finished, by kind and completion,
// since the history began (and in the histories it continues).
func (h *History) Totals() map[TotalKey]int64 {
	out := map[TotalKey]int64{}
	if h == nil {
		return out
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, v := range h.totals {
		out[k] = v
	}
	return out
}

// NewHistory returns an empty history that keeps the last size finished
// transfers (HistorySize if size is 0 or less).
func NewHistory(size int) *History {
	if size <= 0 {
		size = HistorySize
	}
	return &History{size: size, live: map[*live]struct{}{}, now: time.Now}
}

// Done returns the finished transfers, newest first (none for a nil
// History).
func (h *History) Done() []Transfer {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Transfer, len(h.done))
	for i, t := range h.done {
		out[len(h.done)-1-i] = t
	}
	return out
}

// InProgress returns the transfers under way, the oldest first, with
// their bytes so far (none for a nil History).
func (h *History) InProgress() []Transfer {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	out := make([]Transfer, 0, len(h.live))
	for l := range h.live {
		t := l.t
		t.Bytes = l.bytes.Load()
		out = append(out, t)
	}
	h.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// Continue takes the finished transfers of prev (the history of the
// share's previous run) as older than its own, and returns h.
func (h *History) Continue(prev *History) *History {
	if prev == nil || prev == h {
		return h
	}
	old := prev.Done()
	totals := prev.Totals()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.totals == nil {
		h.totals = map[TotalKey]int64{}
	}
	for k, v := range totals {
		h.totals[k] += v
	}
	for i := range old { // old is newest first
		if len(h.done) >= h.size {
			break
		}
		h.done = append([]Transfer{old[i]}, h.done...)
	}
	return h
}

// begin records a transfer under way.
func (h *History) begin(kind, name string, size int64) *live {
	l := &live{h: h, t: Transfer{Kind: kind, Name: name, Start: h.now().UTC(), Size: size}}
	h.mu.Lock()
	h.live[l] = struct{}{}
	h.mu.Unlock()
	return l
}

// live is a transfer under way.
type live struct {
	h     *History
	t     Transfer
	bytes atomic.Int64
	once  sync.Once
}

func (l *live) add(n int64) {
	if l != nil {
		l.bytes.Add(n)
	}
}

// finish moves the transfer to the history.
func (l *live) finish(complete bool) {
	l.once.Do(func() {
		h := l.h
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.live, l)
		t := l.t
		t.Bytes, t.End, t.Complete = l.bytes.Load(), h.now().UTC(), complete
		if len(h.done) >= h.size {
			h.done = append(h.done[:0], h.done[len(h.done)-h.size+1:]...)
		}
		h.done = append(h.done, t)
		if h.totals == nil {
			h.totals = map[TotalKey]int64{}
		}
		h.totals[TotalKey{t.Kind, t.Complete}]++
	})
}

// drop forgets the transfer: a request that was no transfer after all
// (a HEAD, a 304, an error).
func (l *live) drop() {
	if l == nil {
		return
	}
	l.once.Do(func() {
		l.h.mu.Lock()
		delete(l.h.live, l)
		l.h.mu.Unlock()
	})
}

// History returns the handler's transfer history.
func (h *Handler) History() *History { return h.hist }

// Downloads returns the complete downloads so far of each file now in the
// shared folder that had one, by slash-separated path: a file download
// that reached the file's last byte (a 200, or a single range ending at
// the last byte, as a resumed download does) counts for the file; a zip
// archive written to its end counts for each file in it. A cut download,
// a range that stops short and a HEAD count for nothing.
func (h *Handler) Downloads() map[string]int64 { return h.counts.current() }

// recordUpload serves an upload, recorded in the history.
func (h *Handler) recordUpload(w http.ResponseWriter, r *http.Request, serve func(http.ResponseWriter, *http.Request)) {
	size := r.ContentLength
	if size < 0 {
		size = -1
	}
	l := h.hist.begin(KindUpload, "", size)
	complete := false
	defer func() { l.finish(complete) }() // also when the handler panics
	r.Body = &countingBody{ReadCloser: r.Body, l: l}
	cw := &countingWriter{ResponseWriter: w}
	serve(cw, r)
	complete = cw.status() == http.StatusCreated
}

// countingBody counts the bytes read of a request body.
type countingBody struct {
	io.ReadCloser
	l *live
}

func (c *countingBody) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.l.add(int64(n))
	return n, err
}

// end finishes a transfer, if there is one (a GET).
func (l *live) end(complete bool) {
	if l != nil {
		l.finish(complete)
	}
}

package fileshare

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestDownloadCounts: a whole file, a range that ends at the last byte
// (a resumed download) and a zip (for each file in it) count; the page, a
// HEAD, a range that stops short and several ranges do not. The counts
// are kept 0600 outside the shared folder and read back by the next
// handler; a file changed since starts again from 0.
func TestDownloadCounts(t *testing.T) {
	f := newFixture(t)
	countsPath := filepath.Join(f.dir, ".counts.json")
	withCounts := func(c *Config) { c.CountsFile = countsPath }
	h := f.handler(t, ModeShare, withCounts)
	for _, req := range []struct {
		target string
		hdr    []string
		code   int
	}{
		{"/", nil, 200},
		{"/files/hello.txt", nil, 200},
		{"/files/hello.txt", []string{"Range", "bytes=0-3"}, 206},
		{"/files/hello.txt", []string{"Range", "bytes=4-"}, 206},
		{"/files/hello.txt", []string{"Range", "bytes=0-1,5-"}, 206},
		{"/files/hello.txt", []string{"Range", "bytes=100-"}, 416},
		{"/files/big.bin", []string{"Range", "bytes=0-99"}, 206},
		{"/zip/photos", nil, 200},
	} {
		if w := get(t, h, req.target, req.hdr...); w.Code != req.code {
			t.Fatalf("%s %v: %d, want %d", req.target, req.hdr, w.Code, req.code)
		}
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodHead, "/files/big.bin", nil))
	want := map[string]int64{"hello.txt": 2, "photos/a.jpg": 1, "photos/deeper/b.txt": 1, "photos/inside": 1}
	if got := h.Downloads(); !maps.Equal(got, want) {
		t.Fatalf("downloads %v, want %v", got, want)
	}
	if n := h.ShareDownloads(); n != 3 {
		t.Errorf("share downloads %d, want 3 (two of hello.txt, one zip)", n)
	}
	fi, err := os.Stat(countsPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("counts file: %v %v", fi, err)
	}
	if ents, _ := os.ReadDir(f.dir); len(ents) != 4 { // secret.txt, share, received, the counts
		t.Errorf("a temporary file stayed next to the counts: %v", ents)
	}

	h2 := f.handler(t, ModeShare, withCounts)
	if got := h2.Downloads(); !maps.Equal(got, want) {
		t.Fatalf("after a restart: downloads %v, want %v", got, want)
	}
	if n := h2.ShareDownloads(); n != 0 {
		t.Errorf("after a restart the share counts %d downloads, want 0 (counted from its start)", n)
	}
	// Another version of hello.txt: its count starts again.
	os.WriteFile(filepath.Join(f.shared, "hello.txt"), []byte("a new hello\n"), 0o644)
	if got := h2.Downloads(); got["hello.txt"] != 0 || got["photos/a.jpg"] != 1 {
		t.Fatalf("after a change of hello.txt: %v", got)
	}
	get(t, h2, "/files/hello.txt")
	if got := h2.Downloads(); got["hello.txt"] != 1 {
		t.Fatalf("the new hello.txt: %v", got)
	}

	// A broken counts file starts from zero and is replaced.
	os.WriteFile(countsPath, []byte("{not json"), 0o600)
	h3 := f.handler(t, ModeShare, withCounts)
	if got := h3.Downloads(); len(got) != 0 {
		t.Fatalf("broken counts read as %v", got)
	}
	get(t, h3, "/files/hello.txt")
	if got := f.handler(t, ModeShare, withCounts).Downloads(); !maps.Equal(got, map[string]int64{"hello.txt": 1}) {
		t.Fatalf("counts after the broken file: %v", got)
	}

	if _, err := NewHandler(Config{Mode: ModeShare, SharedDir: f.shared, ReceivedDir: f.received,
		CountsFile: filepath.Join(f.shared, "counts.json")}); err == nil {
		t.Error("a counts file in the shared folder accepted")
	}
}

// bigFile adds a sparse file of n bytes to the share.
func bigFile(t *testing.T, f *fixture, name string, n int64) {
	t.Helper()
	bf, err := os.Create(filepath.Join(f.shared, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := bf.Truncate(n); err != nil {
		t.Fatal(err)
	}
	bf.Close()
}

// startDownload sends a GET for target on a connection with a small
// receive buffer, and returns it with the response's header read.
func startDownload(t *testing.T, addr, target string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.(*net.TCPConn).SetReadBuffer(16 << 10)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x.onion\r\n\r\n", target)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, br, resp
}

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	srv, err := Start(cfg, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// lastDone waits for the history to hold n finished transfers and returns
// the newest.
func lastDone(t *testing.T, h *History, n int) Transfer {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d finished transfers", n), func() bool { return len(h.Done()) >= n })
	return h.Done()[0]
}

// TestCutDownload: a download the visitor stops in the middle counts for
// nothing; the history has it, not complete, with the bytes sent; while
// it ran, it was in progress with its bytes so far and its size.
func TestCutDownload(t *testing.T) {
	f := newFixture(t)
	const size = 64 << 20
	bigFile(t, f, "huge.bin", size)
	srv := start(t, Config{Mode: ModeShare, SharedDir: f.shared, ReceivedDir: f.received})
	c, br, resp := startDownload(t, srv.Addr(), "/files/huge.bin")
	if resp.StatusCode != 200 || resp.ContentLength != size {
		t.Fatalf("HTTP %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	io.CopyN(io.Discard, br, 1<<20)
	var prog []Transfer
	waitFor(t, "the download in progress", func() bool {
		prog = srv.History().InProgress()
		return len(prog) == 1 && prog[0].Bytes >= 1<<20
	})
	if p := prog[0]; p.Name != "huge.bin" || p.Kind != KindDownload || p.Size != size || !p.End.IsZero() {
		t.Fatalf("in progress: %+v", p)
	}
	c.Close()
	tr := lastDone(t, srv.History(), 1)
	if tr.Complete || tr.Bytes >= size || tr.Bytes < 1<<20 || tr.End.Before(tr.Start) || tr.Start.Location() != time.UTC {
		t.Fatalf("cut download recorded as %+v", tr)
	}
	if len(srv.Downloads()) != 0 || srv.ShareDownloads() != 0 || len(srv.History().InProgress()) != 0 {
		t.Fatalf("a cut download counted: %v, %d", srv.Downloads(), srv.ShareDownloads())
	}
}

// TestFileRemovedWhileDownloading: a file removed during its download is
// still sent whole from its open descriptor and counts as a download of
// the share, but for no file (a new file of that name starts from 0); a
// file truncated during its download ends the download cut, counted for
// nothing.
func TestFileRemovedWhileDownloading(t *testing.T) {
	f := newFixture(t)
	const size = 32 << 20
	bigFile(t, f, "gone.bin", size)
	bigFile(t, f, "shrunk.bin", size)
	srv := start(t, Config{Mode: ModeShare, SharedDir: f.shared, ReceivedDir: f.received, CountsFile: filepath.Join(f.dir, "counts")})

	_, br, resp := startDownload(t, srv.Addr(), "/files/gone.bin")
	io.CopyN(io.Discard, br, 1<<20)
	if err := os.Remove(filepath.Join(f.shared, "gone.bin")); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(br, size-1<<20))
	if err != nil || n+1<<20 != size || resp.ContentLength != size {
		t.Fatalf("removed file: read %d more bytes (%v)", n, err)
	}
	if tr := lastDone(t, srv.History(), 1); !tr.Complete || tr.Bytes != size {
		t.Fatalf("removed file's download recorded as %+v", tr)
	}
	os.WriteFile(filepath.Join(f.shared, "gone.bin"), []byte("another file"), 0o644)
	if got := srv.Downloads(); len(got) != 0 || srv.ShareDownloads() != 1 {
		t.Fatalf("after the removed file's download: %v, share %d", got, srv.ShareDownloads())
	}

	_, br, _ = startDownload(t, srv.Addr(), "/files/shrunk.bin")
	io.CopyN(io.Discard, br, 1<<20)
	if err := os.Truncate(filepath.Join(f.shared, "shrunk.bin"), 2<<20); err != nil {
		t.Fatal(err)
	}
	n, err = io.Copy(io.Discard, io.LimitReader(br, size-1<<20))
	if err == nil && n+1<<20 == size {
		t.Fatal("the truncated file arrived whole")
	}
	if tr := lastDone(t, srv.History(), 2); tr.Complete || tr.Name != "shrunk.bin" {
		t.Fatalf("truncated file's download recorded as %+v", tr)
	}
	if got := srv.Downloads(); len(got) != 0 || srv.ShareDownloads() != 1 {
		t.Fatalf("after the truncated file's download: %v, share %d", got, srv.ShareDownloads())
	}
}

// TestHistory: the history keeps the last N transfers, newest first,
// uploads included (complete when stored, with the request's bytes).
func TestHistory(t *testing.T) {
	f := newFixture(t)
	hist := NewHistory(3)
	h := f.handler(t, ModeBoth, func(c *Config) { c.History = hist })
	for _, p := range []string{"/files/hello.txt", "/files/photos/a.jpg", "/files/big.bin", "/zip/"} {
		get(t, h, p)
	}
	body, ctype := multipartBody(t, "up.txt", "uploaded")
	b, _ := io.ReadAll(body)
	if w := post(t, h, bytes.NewReader(b), ctype, false); w.Code != http.StatusCreated {
		t.Fatalf("upload: %d", w.Code)
	}
	post(t, h, bytes.NewReader(b), "text/plain", false) // refused: not a form
	done := h.History().Done()
	if len(done) != 3 {
		t.Fatalf("history of %d, want 3: %+v", len(done), done)
	}
	if d := done[2]; d.Kind != KindDownload || d.Name != "shared.zip" || !d.Complete || d.Size != -1 || d.Bytes == 0 {
		t.Errorf("oldest kept: %+v", d)
	}
	if u := done[1]; u.Kind != KindUpload || !u.Complete || u.Bytes != int64(len(b)) || u.Size != int64(len(b)) || u.Name != "" {
		t.Errorf("upload: %+v", u)
	}
	if u := done[0]; u.Kind != KindUpload || u.Complete {
		t.Errorf("refused upload: %+v", u)
	}
	// The history of a next run goes on from this one.
	next := NewHistory(3)
	next.Continue(hist)
	if got := next.Done(); len(got) != 3 || got[0] != done[0] {
		t.Errorf("continued history: %+v", got)
	}
}

// TestMaxDownloads: after MaxDownloads complete downloads of the share
// (a file and a zip here), new requests are refused and OnAutoStop is
// called once; partial downloads do not count.
func TestMaxDownloads(t *testing.T) {
	f := newFixture(t)
	var calls atomic.Int32
	h := f.handler(t, ModeShare, func(c *Config) {
		c.MaxDownloads = 2
		c.OnAutoStop = func() { calls.Add(1) }
	})
	get(t, h, "/files/big.bin", "Range", "bytes=0-9")
	get(t, h, "/files/hello.txt")
	if h.Stopped() {
		t.Fatal("stopped after one of two downloads")
	}
	get(t, h, "/zip/photos")
	if !h.Stopped() {
		t.Fatal("not stopped after two downloads")
	}
	if w := get(t, h, "/files/hello.txt"); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("after max-downloads: %d", w.Code)
	}
	waitFor(t, "OnAutoStop", func() bool { return calls.Load() == 1 })
	time.Sleep(50 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("OnAutoStop called %d times", n)
	}
	for _, c := range []struct {
		cfg  Config
		want int64
	}{{Config{}, 0}, {Config{AutoStop: true}, 1}, {Config{AutoStop: true, MaxDownloads: 5}, 1}, {Config{MaxDownloads: 5}, 5}, {Config{MaxDownloads: -1}, 0}} {
		if got := c.cfg.limit(); got != c.want {
			t.Errorf("%+v: limit %d, want %d", c.cfg, got, c.want)
		}
	}
}

// TestStopDrains: the share ends at the download that reaches the limit
// (other requests are refused at once), but OnAutoStop, which withdraws
// the onion, waits until that download's connection closes, or at most
// the drain timeout.
func TestStopDrains(t *testing.T) {
	f := newFixture(t)
	for _, keepOpen := range []bool{false, true} {
		stopped := make(chan time.Time, 1)
		srv := start(t, Config{Mode: ModeShare, SharedDir: f.shared, ReceivedDir: f.received, MaxDownloads: 1,
			DrainTimeout: 2 * time.Second, OnAutoStop: func() { stopped <- time.Now() }})
		c, br, resp := startDownload(t, srv.Addr(), "/files/big.bin")
		b, err := io.ReadAll(io.LimitReader(br, resp.ContentLength))
		if err != nil || !bytes.Equal(b, f.big) {
			t.Fatalf("the last download: %d bytes, %v", len(b), err)
		}
		waitFor(t, "the share stopped", srv.Stopped)
		if r, err := http.Get("http://" + srv.Addr() + "/"); err != nil || r.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("a new request while draining: %v %v", r, err)
		}
		select {
		case <-stopped:
			t.Fatal("OnAutoStop called while the last download's connection is open")
		case <-time.After(300 * time.Millisecond):
		}
		began := time.Now()
		if !keepOpen {
			c.Close()
		}
		select {
		case at := <-stopped:
			if d := at.Sub(began); keepOpen && d < time.Second || !keepOpen && d > time.Second {
				t.Errorf("keep open %v: OnAutoStop %v after", keepOpen, d)
			}
			if dr := srv.Drained(); dr == nil || dr.Closed == keepOpen {
				t.Errorf("keep open %v: drained %+v", keepOpen, dr)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("keep open %v: OnAutoStop not called", keepOpen)
		}
	}
}

// Example-like check that the counts file holds only names and numbers.
func TestCountsFileContent(t *testing.T) {
	f := newFixture(t)
	p := filepath.Join(f.dir, "counts")
	h := f.handler(t, ModeShare, func(c *Config) { c.CountsFile = p })
	get(t, h, "/files/hello.txt")
	b, _ := os.ReadFile(p)
	fi, _ := os.Stat(filepath.Join(f.shared, "hello.txt"))
	want := `{"files":{"hello.txt":{"downloads":1,"size":13,"mtime_ns":` + strconv.FormatInt(fi.ModTime().UnixNano(), 10) + `}}}`
	if string(b) != want {
		t.Errorf("counts file %s, want %s", b, want)
	}
}

// TestCountsFileNoLinks: a counts file that is a symlink is not read
// through, and the next write replaces the link itself, leaving its
// target untouched; names that could leave the folder are dropped.
func TestCountsFileNoLinks(t *testing.T) {
	f := newFixture(t)
	target := filepath.Join(f.dir, "secret.txt")
	p := filepath.Join(f.dir, "counts")
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	h := f.handler(t, ModeShare, func(c *Config) { c.CountsFile = p })
	get(t, h, "/files/hello.txt")
	if b, _ := os.ReadFile(target); string(b) != "outside the share" {
		t.Fatalf("the link's target was written: %q", b)
	}
	if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("counts file after the write: %v %v", fi, err)
	}
	os.WriteFile(p, []byte(`{"files":{"../secret.txt":{"downloads":5},"/etc/passwd":{"downloads":5},"hello.txt":{"downloads":7,"size":13,"mtime_ns":1}}}`), 0o600)
	c, err := loadCounts(p, f.shared)
	if err != nil || len(c.files) != 1 {
		t.Fatalf("hostile names kept: %v %v", c.files, err)
	}
}

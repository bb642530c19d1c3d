package fileshare

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing after a generous timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// parts lists the .part files in the received folder.
func parts(t *testing.T, f *fixture) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(f.received, ".upload-*.part"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func folderBytes(t *testing.T, f *fixture) int64 {
	t.Helper()
	var n int64
	for _, c := range received(t, f) {
		n += int64(len(c))
	}
	return n
}

// TestReceiveQuota: one visitor sends many uploads, each within the
// per-file limit; the received folder stops at its quota, uploads past it
// are answered 507 and nothing of them stays, and room the host makes is
// usable again.
func TestReceiveQuota(t *testing.T) {
	f := newFixture(t)
	if err := os.MkdirAll(f.received, 0o700); err != nil {
		t.Fatal(err)
	}
	// What the folder held before the start counts.
	if err := os.WriteFile(filepath.Join(f.received, "earlier.bin"), make([]byte, 2000), 0o600); err != nil {
		t.Fatal(err)
	}
	const quota = 10 << 10
	h := f.handler(t, ModeReceive, func(c *Config) { c.MaxUpload = 3000; c.MaxReceived = quota })
	created, full := 0, 0
	for i := range 30 {
		body, ctype := multipartBody(t, fmt.Sprintf("f%d.bin", i), strings.Repeat("x", 2500))
		switch w := post(t, h, body, ctype, i%2 == 1); w.Code {
		case http.StatusCreated:
			created++
		case http.StatusInsufficientStorage:
			full++
			if !strings.Contains(w.Body.String(), "Nothing of this upload was kept") {
				t.Errorf("507 says %q", w.Body)
			}
		default:
			t.Fatalf("upload %d: %d %s", i, w.Code, w.Body)
		}
		if n := folderBytes(t, f); n > quota {
			t.Fatalf("after upload %d the folder holds %d bytes, over the quota of %d", i, n, quota)
		}
		if p := parts(t, f); len(p) != 0 {
			t.Fatalf("left behind: %v", p)
		}
	}
	if created != (quota-2000)/2500 || full != 30-created {
		t.Fatalf("%d uploads stored, %d refused; want %d stored", created, full, (quota-2000)/2500)
	}
	// A request of several files that goes over keeps none of them.
	os.Remove(filepath.Join(f.received, "f0.bin"))
	before := received(t, f)
	body, ctype := multipartBody(t, "a.bin", strings.Repeat("a", 2000), "b.bin", strings.Repeat("b", 2000))
	if w := post(t, h, body, ctype, true); w.Code != http.StatusInsufficientStorage {
		t.Fatalf("two files over the quota: %d %s", w.Code, w.Body)
	}
	if got := received(t, f); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("a refused request left files: %v", got)
	}
	// The room the host made is usable.
	body, ctype = multipartBody(t, "a.bin", strings.Repeat("a", 2000))
	if w := post(t, h, body, ctype, false); w.Code != http.StatusCreated {
		t.Fatalf("after the host made room: %d %s", w.Code, w.Body)
	}
}

// TestReceiveKeepsFreeSpace: an upload that would leave the folder's
// filesystem less than its reserve free is refused, whatever the quota.
func TestReceiveKeepsFreeSpace(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, ModeReceive)
	const size = 1 << 30 // reserve: 10 %, more than 64 MiB
	reserve := int64(size / 100 * reservePercent)
	h.quota.statfs = func(string) (int64, int64, error) { return reserve + 1500, size, nil }
	body, ctype := multipartBody(t, "small.bin", strings.Repeat("s", 1000))
	if w := post(t, h, body, ctype, false); w.Code != http.StatusCreated {
		t.Fatalf("within the free space: %d %s", w.Code, w.Body)
	}
	body, ctype = multipartBody(t, "big.bin", strings.Repeat("b", 2000))
	w := post(t, h, body, ctype, true)
	if w.Code != http.StatusInsufficientStorage || !strings.Contains(w.Body.String(), "nearly full") {
		t.Fatalf("into the reserve: %d %s", w.Code, w.Body)
	}
	if got := received(t, f); len(got) != 1 {
		t.Fatalf("received %v", got)
	}
}

// stalledUpload opens a connection to srv, sends the headers and the
// start of an upload, and then nothing more.
func stalledUpload(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	head := "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.bin\"\r\n\r\n" + strings.Repeat("z", 4096)
	fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: x.onion\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: %d\r\n\r\n%s",
		1<<20, head)
	return c
}

// TestStalledUpload: a client that stops sending in the middle of an
// upload loses its connection after the idle timeout, and its .part file
// goes with it.
func TestStalledUpload(t *testing.T) {
	f := newFixture(t)
	srv, err := Start(Config{Mode: ModeReceive, SharedDir: f.shared, ReceivedDir: f.received,
		UploadIdleTimeout: 300 * time.Millisecond}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := stalledUpload(t, srv.Addr())
	// The server closes the connection on its own (after answering 408).
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	resp, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("the stalled upload still holds its connection: %v", err)
	}
	if !strings.HasPrefix(string(resp), "HTTP/1.1 408") {
		t.Errorf("answer to a stalled upload: %q", resp)
	}
	waitFor(t, "the .part file to go", func() bool { return len(parts(t, f)) == 0 })
	if got := received(t, f); len(got) != 0 {
		t.Fatalf("received %v", got)
	}
}

// TestUploadTotalTimeout: a client that keeps sending a byte now and then
// (never idle) is still cut off after the total timeout.
func TestUploadTotalTimeout(t *testing.T) {
	f := newFixture(t)
	srv, err := Start(Config{Mode: ModeReceive, SharedDir: f.shared, ReceivedDir: f.received,
		UploadIdleTimeout: time.Minute, UploadTimeout: 500 * time.Millisecond}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := stalledUpload(t, srv.Addr())
	go func() {
		for {
			time.Sleep(50 * time.Millisecond)
			if _, err := c.Write([]byte("z")); err != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 408") {
		t.Fatalf("a trickling upload past the total timeout: %q %v", line, err)
	}
	waitFor(t, "the .part file to go", func() bool { return len(parts(t, f)) == 0 })
}

// TestConcurrentUploadsCapped: past the cap, an upload is answered 503
// with Retry-After; once one ends, uploads are taken again.
func TestConcurrentUploadsCapped(t *testing.T) {
	f := newFixture(t)
	srv, err := Start(Config{Mode: ModeReceive, SharedDir: f.shared, ReceivedDir: f.received, MaxUploads: 2}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	a, b := stalledUpload(t, srv.Addr()), stalledUpload(t, srv.Addr())
	waitFor(t, "two uploads under way", func() bool { return len(parts(t, f)) == 2 })
	send := func() *http.Response {
		body, ctype := multipartBody(t, "third.txt", "third")
		resp, err := http.Post("http://"+srv.Addr()+"/upload", ctype, body)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := send(); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third upload at once: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	a.Close()
	b.Close()
	waitFor(t, "the uploads to end", func() bool { return len(parts(t, f)) == 0 })
	waitFor(t, "an upload to be taken", func() bool { return send().StatusCode == http.StatusCreated })
	if got := received(t, f); len(got) != 1 || got["third.txt"] != "third" {
		t.Fatalf("received %v", got)
	}
}

// TestStalePartsRemovedAtStart: .part files of uploads cut short by a kill
// are removed when the backend starts; the host's own files stay.
func TestStalePartsRemovedAtStart(t *testing.T) {
	f := newFixture(t)
	if err := os.MkdirAll(f.received, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{".upload-0123456789abcdef.part", ".upload-ffff.part", "notes.part", ".upload-notes.txt", "kept.txt"} {
		if err := os.WriteFile(filepath.Join(f.received, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f.handler(t, ModeReceive)
	des, err := os.ReadDir(f.received)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, de := range des {
		left = append(left, de.Name())
	}
	if fmt.Sprint(left) != "[.upload-notes.txt kept.txt notes.part]" {
		t.Fatalf("left in the received folder: %v", left)
	}
}

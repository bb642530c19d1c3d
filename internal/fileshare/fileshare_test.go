package fileshare

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fixture is a shared folder with files, a subfolder, a dot file and
// symlinks out of it, plus a secret file next to it.
type fixture struct {
	dir, shared, received string
	big                   []byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{dir: dir, shared: filepath.Join(dir, "share"), received: filepath.Join(dir, "received")}
	f.big = make([]byte, 3<<20+17)
	rand.Read(f.big)
	write := func(p string, b []byte) {
		t.Helper()
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("secret.txt", []byte("outside the share"))
	write("share/hello.txt", []byte("hello, world\n"))
	write("share/big.bin", f.big)
	write("share/photos/a.jpg", []byte("AAAA"))
	write("share/photos/deeper/b.txt", []byte("BB"))
	write("share/photos/.hidden", []byte("dot file in a folder"))
	write("share/.env", []byte("dot file"))
	write("share/name with space & <tag>.txt", []byte("odd name"))
	for link, target := range map[string]string{
		"share/etc":           "/etc",
		"share/passwd":        "/etc/passwd",
		"share/up":            "../secret.txt",
		"share/photos/inside": "../hello.txt",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) handler(t *testing.T, mode string, mutate ...func(*Config)) *Handler {
	t.Helper()
	cfg := Config{Mode: mode, SharedDir: f.shared, ReceivedDir: f.received, MaxUpload: 1 << 20}
	for _, m := range mutate {
		m(&cfg)
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t *testing.T, h http.Handler, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://x.onion/", nil)
	// Set the raw target by hand: httptest would refuse some hostile ones.
	r.RequestURI = target
	u, err := url.ParseRequestURI(target) // as net/http's server does: no dot-segment removal
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	r.URL = u
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestShareServesFiles(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, ModeShare)

	w := get(t, h, "/files/big.bin")
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), f.big) {
		t.Fatalf("big.bin: %d, %d bytes", w.Code, w.Body.Len())
	}
	if cl := w.Header().Get("Content-Length"); cl != fmt.Sprint(len(f.big)) {
		t.Errorf("Content-Length %q, want %d", cl, len(f.big))
	}
	if cd := w.Header().Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
		t.Errorf("Content-Disposition %q", cd)
	}
	w = get(t, h, "/files/big.bin", "Range", "bytes=100-199")
	if w.Code != http.StatusPartialContent || !bytes.Equal(w.Body.Bytes(), f.big[100:200]) {
		t.Fatalf("range: %d, %d bytes", w.Code, w.Body.Len())
	}
	if w := get(t, h, "/files/photos/deeper/b.txt"); w.Body.String() != "BB" {
		t.Fatalf("nested file: %d %q", w.Code, w.Body)
	}
	if w := get(t, h, "/files/name%20with%20space%20&%20%3Ctag%3E.txt"); w.Body.String() != "odd name" {
		t.Fatalf("odd name: %d %q", w.Code, w.Body)
	}
	// A symlink inside the share to a file inside it is fine.
	if w := get(t, h, "/files/photos/inside"); w.Body.String() != "hello, world\n" {
		t.Fatalf("inner symlink: %d %q", w.Code, w.Body)
	}
}

func TestShareListing(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, ModeShare)
	w := get(t, h, "/")
	page := w.Body.String()
	if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	for _, want := range []string{`href="/files/hello.txt"`, `href="/files/photos/"`, `href="/zip/photos"`, `href="/zip/"`,
		`name with space &amp; &lt;tag&gt;.txt`, `href="/style.css"`, `lang="en"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
	for _, bad := range []string{".env", ".hidden", "passwd", `"/files/etc/"`, "/files/up", "<form", "http://", "https://", "<script", "style="} {
		if strings.Contains(page, bad) {
			t.Errorf("page shows %q:\n%s", bad, page)
		}
	}
	sub := get(t, h, "/files/photos/").Body.String()
	if !strings.Contains(sub, `href="/files/photos/a.jpg"`) || !strings.Contains(sub, `href="/"`) || strings.Contains(sub, ".hidden") {
		t.Errorf("sub-listing:\n%s", sub)
	}
	if w := get(t, h, "/files/photos"); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/files/photos/" {
		t.Errorf("folder without slash: %d %q", w.Code, w.Header().Get("Location"))
	}
	if w := get(t, h, "/style.css"); w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/css") {
		t.Errorf("style.css: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
}

// TestTraversal: nothing outside the shared folder, no dot file, no
// symlink out of it, whatever the encoding.
func TestTraversal(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, ModeBoth)
	for _, target := range []string{
		"/files/../secret.txt", "/files/%2e%2e/secret.txt", "/files/%2e%2e%2fsecret.txt",
		"/files/..%2fsecret.txt", "/files/..%5csecret.txt", "/files/photos/..%5c..%5csecret.txt",
		"/files/photos/../../secret.txt", "/files//etc/passwd", "/files/%2fetc%2fpasswd",
		"/files/etc/passwd", "/files/passwd", "/files/up", "/files/.env", "/files/photos/.hidden",
		"/files/%2eenv", "/zip/etc", "/zip/..", "/zip/%2e%2e", "/zip/photos/..%2f..",
		"/files/hello.txt%00", "/files/C:%5cWindows", "/../secret.txt", "/received/",
		"/files/" + strings.Repeat("../", 20) + "etc/passwd",
	} {
		w := get(t, h, target)
		body := w.Body.String()
		if w.Code == 200 || strings.Contains(body, "root:") || strings.Contains(body, "outside the share") || strings.Contains(body, "dot file") {
			t.Errorf("%s: %d %q", target, w.Code, body)
		}
	}
}

func TestZipStreams(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, ModeShare)
	w := get(t, h, "/zip/")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/zip" {
		t.Fatalf("zip: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if cd := w.Header().Get("Content-Disposition"); cd != `attachment; filename=shared.zip` {
		t.Errorf("Content-Disposition %q", cd)
	}
	files := unzip(t, w.Body.Bytes())
	want := map[string]string{
		"shared/hello.txt":                   "hello, world\n",
		"shared/big.bin":                     string(f.big),
		"shared/photos/a.jpg":                "AAAA",
		"shared/photos/deeper/b.txt":         "BB",
		"shared/photos/inside":               "hello, world\n",
		"shared/name with space & <tag>.txt": "odd name",
	}
	if len(files) != len(want) {
		var names []string
		for n := range files {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Fatalf("zip holds %q", names)
	}
	for n, c := range want {
		if files[n] != c {
			t.Errorf("%s: %d bytes, want %d", n, len(files[n]), len(c))
		}
	}
	sub := unzip(t, get(t, h, "/zip/photos").Body.Bytes())
	if len(sub) != 3 || sub["photos/deeper/b.txt"] != "BB" {
		t.Errorf("zip of photos: %v", sub)
	}
}

func unzip(t *testing.T, b []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, zf := range zr.File {
		if strings.HasSuffix(zf.Name, "/") {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		c, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[zf.Name] = string(c)
	}
	return out
}

// multipartBody returns a form with one file per name/content pair.
func multipartBody(t *testing.T, files ...string) (io.Reader, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("note", "ignored")
	for i := 0; i+1 < len(files); i += 2 {
		fw, err := mw.CreateFormFile("file", files[i])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(fw, files[i+1])
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

func post(t *testing.T, h http.Handler, body io.Reader, ctype string, chunked bool) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://x.onion/upload", body)
	r.Header.Set("Content-Type", ctype)
	if chunked {
		r.ContentLength = -1
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func received(t *testing.T, f *fixture) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(f.received, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(f.received, p)
		out[rel] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReceive(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, ModeReceive)
	page := get(t, h, "/").Body.String()
	if !strings.Contains(page, `<form method="post" action="/upload" enctype="multipart/form-data">`) || strings.Contains(page, "hello.txt") {
		t.Fatalf("receive page:\n%s", page)
	}
	if w := get(t, h, "/files/hello.txt"); w.Code != http.StatusNotFound {
		t.Fatalf("receive mode serves files: %d", w.Code)
	}
	body, ctype := multipartBody(t, "report.pdf", "one", `..\..\evil.sh`, "two", "/etc/passwd", "three", "..", "four")
	if w := post(t, h, body, ctype, false); w.Code != http.StatusCreated {
		t.Fatalf("upload: %d %s", w.Code, w.Body)
	}
	body, ctype = multipartBody(t, "report.pdf", "again", "report.pdf", "and again")
	if w := post(t, h, body, ctype, true); w.Code != http.StatusCreated {
		t.Fatalf("upload: %d %s", w.Code, w.Body)
	}
	got := received(t, f)
	want := map[string]string{"report.pdf": "one", "evil.sh": "two", "passwd": "three", "upload": "four",
		"report (1).pdf": "again", "report (2).pdf": "and again"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	if _, err := os.Stat("/etc/passwd.tmp"); err == nil {
		t.Fatal("wrote outside")
	}
}

func TestUploadOverLimit(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, ModeReceive, func(c *Config) { c.MaxUpload = 1000 })
	for _, chunked := range []bool{false, true} {
		body, ctype := multipartBody(t, "small.txt", "ok", "big.bin", strings.Repeat("x", 1001))
		w := post(t, h, body, ctype, chunked)
		if w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("chunked=%v: %d %s", chunked, w.Code, w.Body)
		}
	}
	// Way over the limit (the request itself): refused from its length.
	body, ctype := multipartBody(t, "huge.bin", strings.Repeat("x", 3<<20))
	if w := post(t, h, body, ctype, false); w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("huge: %d", w.Code)
	}
	body, ctype = multipartBody(t, "huge.bin", strings.Repeat("x", 3<<20))
	if w := post(t, h, body, ctype, true); w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("huge chunked: %d", w.Code)
	}
	got := received(t, f)
	for n := range got {
		if n != "small.txt" && n != "small (1).txt" {
			t.Errorf("left behind: %s", n)
		}
	}
	// Exactly at the limit is fine.
	body, ctype = multipartBody(t, "exact.bin", strings.Repeat("y", 1000))
	if w := post(t, h, body, ctype, true); w.Code != http.StatusCreated {
		t.Fatalf("at the limit: %d %s", w.Code, w.Body)
	}
}

func TestShareModeRefusesUploads(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, ModeShare)
	body, ctype := multipartBody(t, "x.txt", "x")
	if w := post(t, h, body, ctype, false); w.Code != http.StatusNotFound {
		t.Fatalf("upload in share mode: %d", w.Code)
	}
	if len(received(t, f)) != 0 {
		t.Fatal("file received in share mode")
	}
	r := httptest.NewRequest(http.MethodDelete, "/files/hello.txt", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE: %d", w.Code)
	}
}

func TestModeBothRefusesNestedFolders(t *testing.T) {
	dir := t.TempDir()
	for _, rcv := range []string{dir, filepath.Join(dir, "in")} {
		if _, err := NewHandler(Config{Mode: ModeBoth, SharedDir: dir, ReceivedDir: rcv}); err == nil {
			t.Errorf("mode both with received %s inside shared %s accepted", rcv, dir)
		}
	}
	if _, err := NewHandler(Config{Mode: "upload", SharedDir: dir, ReceivedDir: dir + "2"}); err == nil {
		t.Error("unknown mode accepted")
	}
}

func TestAutoStop(t *testing.T) {
	f := newFixture(t)
	var calls atomic.Int32
	done := make(chan struct{}, 2)
	h := f.handler(t, ModeShare, func(c *Config) {
		c.AutoStop = true
		c.OnAutoStop = func() { calls.Add(1); done <- struct{}{} }
	})
	// The page, a HEAD and a partial download do not count.
	get(t, h, "/")
	r := httptest.NewRequest(http.MethodHead, "/files/big.bin", nil)
	h.ServeHTTP(httptest.NewRecorder(), r)
	get(t, h, "/files/big.bin", "Range", "bytes=0-9")
	if h.Stopped() {
		t.Fatal("stopped before a complete download")
	}
	if w := get(t, h, "/zip/photos"); w.Code != 200 {
		t.Fatalf("zip: %d", w.Code)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("OnAutoStop not called")
	}
	if w := get(t, h, "/files/hello.txt"); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("after auto-stop: %d", w.Code)
	}
	time.Sleep(50 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("OnAutoStop called %d times", n)
	}
}

func TestServerCloseCutsTransfers(t *testing.T) {
	f := newFixture(t)
	srv, err := Start(Config{Mode: ModeShare, SharedDir: f.shared, ReceivedDir: f.received}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + srv.Addr() + "/files/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello, world\n" {
		t.Fatalf("got %q", b)
	}
	start := time.Now()
	if err := srv.Close(); err != nil && time.Since(start) > 3*time.Second {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + srv.Addr() + "/"); err == nil {
		t.Fatal("still serving after Close")
	}
}

// FuzzCleanPath: whatever the input, CleanPath's result stays inside the
// folder, names no dot file and holds no backslash.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "../x", "/a/../../b", `..\x`, "/.env", "a//b/", "/%2e%2e/", "\x00", "/é/ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := CleanPath(p)
		if err != nil {
			return
		}
		if !fs.ValidPath(c) || !filepath.IsLocal(c) {
			t.Fatalf("CleanPath(%q) = %q, not local", p, c)
		}
		if strings.ContainsAny(c, "\\\x00") {
			t.Fatalf("CleanPath(%q) = %q", p, c)
		}
		for _, seg := range strings.Split(c, "/") {
			if c != "." && strings.HasPrefix(seg, ".") {
				t.Fatalf("CleanPath(%q) = %q: dot segment", p, c)
			}
		}
		if j := filepath.Join("/srv/share", c); j != "/srv/share" && !strings.HasPrefix(j, "/srv/share/") {
			t.Fatalf("CleanPath(%q) = %q joins to %q", p, c, j)
		}
	})
}

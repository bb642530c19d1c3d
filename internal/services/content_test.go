package services

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"tails-server/internal/catalog"
	"tails-server/internal/staticweb"
	"tails-server/internal/store"
	"tails-server/internal/testenv"
)

// entry is one entry of a tar stream a test sends.
type entry struct {
	name string
	body string // a file's content
	dir  bool
	typ  byte // another type than file or folder
}

func tarOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		switch {
		case e.dir:
			h.Typeflag, h.Size, h.Mode = tar.TypeDir, 0, 0o755
		case e.typ != 0:
			h.Typeflag, h.Size, h.Linkname = e.typ, 0, "/etc/shadow"
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// folderTree returns every name under dir (dot names included), with the
// content of files.
func folderTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if fi.IsDir() {
			out[rel+"/"] = ""
		} else {
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		}
		return nil
	})
	return out
}

func shareDir(m *Manager) string {
	_, data := dirs(m.store, "fileshare")
	return filepath.Join(data, "share")
}

func add(m *Manager, req AddRequest, body []byte) error {
	if req.Service == "" {
		req.Service = "fileshare"
	}
	_, err := m.AddFiles(context.Background(), req, bytes.NewReader(body))
	return err
}

// TestAddFiles: files and folders land in the offered folder, whole, and
// list shows them; nothing else stays (no staging folder).
func TestAddFiles(t *testing.T) {
	m := newTestManager(t)
	res, err := m.AddFiles(context.Background(), AddRequest{Service: "fileshare"}, bytes.NewReader(tarOf(t,
		entry{name: "report.pdf", body: "%PDF report"},
		entry{name: "photos", dir: true},
		entry{name: "photos/a.jpg", body: "jpeg a"},
		entry{name: "notes/2024/b.txt", body: "b"},
	)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Added, ",") != "report.pdf,photos,notes" || res.Files != 3 || res.Bytes != 18 || res.Folder != "share" {
		t.Errorf("result %+v", res)
	}
	want := map[string]string{"report.pdf": "%PDF report", "photos/": "", "photos/a.jpg": "jpeg a", "notes/": "", "notes/2024/": "", "notes/2024/b.txt": "b"}
	if got := folderTree(t, shareDir(m)); !equalTree(got, want) {
		t.Errorf("share folder holds %v, want %v", got, want)
	}
	l, err := m.ListFiles("fileshare", "", false)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range l.Files {
		names = append(names, f.Name)
		// fileshare, not running, shows the counts it kept: none yet.
		if f.Downloads == nil || *f.Downloads != 0 {
			t.Errorf("%s: downloads %v, want the kept count 0", f.Name, f.Downloads)
		}
		if f.Modified.Location() != nil && f.Modified.Location().String() != "UTC" {
			t.Errorf("%s: time %v not in UTC", f.Name, f.Modified)
		}
	}
	if strings.Join(names, ",") != "notes/2024/b.txt,photos/a.jpg,report.pdf" {
		t.Errorf("list shows %v", names)
	}
	// To a folder inside.
	if err := add(m, AddRequest{To: "more/deep"}, tarOf(t, entry{name: "c.txt", body: "c"})); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(shareDir(m), "more", "deep", "c.txt")); string(b) != "c" {
		t.Errorf("--to more/deep: %q %v", b, err)
	}
}

func equalTree(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestAddRefusedLeavesNothing: a bad name anywhere in the stream, an
// entry that is no file nor folder, a stream cut in the middle of a file:
// one-line error, and the folder is as it was (no file of the add, no
// staging folder).
func TestAddRefusedLeavesNothing(t *testing.T) {
	m := newTestManager(t)
	if err := add(m, AddRequest{}, tarOf(t, entry{name: "keep.txt", body: "keep"})); err != nil {
		t.Fatal(err)
	}
	before := folderTree(t, shareDir(m))
	good := entry{name: "first.txt", body: "first"}
	full := tarOf(t, good, entry{name: "big.bin", body: strings.Repeat("x", 100000)})
	tests := []struct {
		what string
		body []byte
		want string
	}{
		{"slash", tarOf(t, good, entry{name: "/etc/passwd", body: "x"}), "starts with /"},
		{"dotdot", tarOf(t, good, entry{name: "a/../../x", body: "x"}), `".." is not allowed`},
		{"dotdot folder", tarOf(t, good, entry{name: "..", dir: true}), `".." is not allowed`},
		{"control", tarOf(t, good, entry{name: "a\x07b", body: "x"}), "control or format character"},
		{"newline", tarOf(t, good, entry{name: "a\nb", body: "x"}), "control or format character"},
		{"bidi override", tarOf(t, good, entry{name: "invoice\u202Efdp.exe", body: "x"}), "control or format character"},
		{"zero width", tarOf(t, good, entry{name: "a\u200Bb", body: "x"}), "control or format character"},
		{"long", tarOf(t, good, entry{name: strings.Repeat("n", 256), body: "x"}), "more than 255"},
		{"dot file", tarOf(t, good, entry{name: ".htaccess", body: "x"}), "starts with a dot"},
		{"empty segment", tarOf(t, good, entry{name: "a//b", body: "x"}), "empty name"},
		{"symlink", tarOf(t, good, entry{name: "link", typ: tar.TypeSymlink}), "a symbolic link: only files and folders"},
		{"hard link", tarOf(t, good, entry{name: "link", typ: tar.TypeLink}), "a hard link"},
		{"twice", tarOf(t, good, good), "twice"},
		{"exists", tarOf(t, good, entry{name: "keep.txt", body: "other"}), `"keep.txt" already exists in share of fileshare`},
		{"cut in a file", full[:len(full)-1024-50000], "cut off"},
		{"not tar", []byte(strings.Repeat("garbage ", 100)), "not a stream of files"},
		{"empty", nil, "nothing to add"},
	}
	for _, tt := range tests {
		err := add(m, AddRequest{}, tt.body)
		var se *Error
		if !errors.As(err, &se) || !strings.Contains(se.Msg, tt.want) || strings.Contains(se.Msg, "\n") {
			t.Errorf("%s: error %v, want one line with %q", tt.what, err, tt.want)
		}
		if got := folderTree(t, shareDir(m)); !equalTree(got, before) {
			t.Errorf("%s: the folder holds %v after the refused add, want %v", tt.what, got, before)
		}
	}
}

// TestAddReplace: --replace swaps the old for the new, file or folder.
func TestAddReplace(t *testing.T) {
	m := newTestManager(t)
	add(m, AddRequest{}, tarOf(t, entry{name: "a.txt", body: "old"}, entry{name: "d/x", body: "old x"}))
	res, err := m.AddFiles(context.Background(), AddRequest{Service: "fileshare", Replace: true},
		bytes.NewReader(tarOf(t, entry{name: "a.txt", body: "new"}, entry{name: "d/y", body: "new y"}, entry{name: "b.txt", body: "b"})))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Replaced, ",") != "a.txt,d" {
		t.Errorf("replaced %v", res.Replaced)
	}
	want := map[string]string{"a.txt": "new", "b.txt": "b", "d/": "", "d/y": "new y"}
	if got := folderTree(t, shareDir(m)); !equalTree(got, want) {
		t.Errorf("after --replace: %v, want %v", got, want)
	}
}

// TestTwoAddsOfOneName: two adds of one name under way at once: the first
// to finish wins, the other is refused and leaves nothing.
func TestTwoAddsOfOneName(t *testing.T) {
	m := newTestManager(t)
	body := strings.Repeat("A", 64<<10)
	start := func() (*io.PipeWriter, *tar.Writer, chan error) {
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			_, err := m.AddFiles(context.Background(), AddRequest{Service: "fileshare"}, pr)
			pr.CloseWithError(err)
			done <- err
		}()
		tw := tar.NewWriter(pw)
		if err := tw.WriteHeader(&tar.Header{Name: "same.txt", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		// Once this is read, the add checked the name and writes.
		if _, err := tw.Write([]byte(body[:1000])); err != nil {
			t.Fatal(err)
		}
		return pw, tw, done
	}
	pwA, twA, doneA := start()
	pwB, twB, doneB := start()
	for _, s := range []struct {
		pw *io.PipeWriter
		tw *tar.Writer
	}{{pwA, twA}} {
		s.tw.Write([]byte(body[1000:]))
		s.tw.Close()
		s.pw.Close()
	}
	if err := <-doneA; err != nil {
		t.Fatalf("first add: %v", err)
	}
	twB.Write([]byte(strings.Repeat("B", len(body)-1000)))
	twB.Close()
	pwB.Close()
	err := <-doneB
	var se *Error
	if !errors.As(err, &se) || se.Status != http.StatusConflict || !strings.Contains(se.Msg, `"same.txt" was added meanwhile`) {
		t.Fatalf("second add: %v, want a conflict", err)
	}
	got := folderTree(t, shareDir(m))
	if len(got) != 1 || got["same.txt"] != body {
		t.Errorf("the folder holds %d names after the two adds (want the first add's file alone)", len(got))
	}
}

// TestAddNoSpace: an add announced bigger than the disk's free space is
// refused before anything is written.
func TestAddNoSpace(t *testing.T) {
	m := newTestManager(t)
	err := add(m, AddRequest{Total: 1 << 60}, tarOf(t, entry{name: "a", body: "a"}))
	var se *Error
	if !errors.As(err, &se) || se.Status != http.StatusInsufficientStorage || !strings.Contains(se.Msg, "not enough free space") {
		t.Fatalf("add of 1 EiB: %v", err)
	}
	if got := folderTree(t, shareDir(m)); len(got) != 0 {
		t.Errorf("the folder holds %v", got)
	}
}

// TestAddToReceivedRefused: visitors' folder is not where the host adds.
func TestAddToReceivedRefused(t *testing.T) {
	m := newTestManager(t)
	err := add(m, AddRequest{Folder: "received"}, tarOf(t, entry{name: "a", body: "a"}))
	if err == nil || !strings.Contains(err.Error(), "where visitors' files land") {
		t.Fatalf("add to received: %v", err)
	}
	if err := add(m, AddRequest{Service: "mumble"}, tarOf(t, entry{name: "a", body: "a"})); err == nil || !strings.Contains(err.Error(), "mumble has no folders of content") {
		t.Fatalf("add to mumble: %v", err)
	}
}

// TestAddReplacesWelcomePage: the web service's welcome page gives way to
// the site's index.html; the site's own index.html does not, unless
// replaced.
func TestAddReplacesWelcomePage(t *testing.T) {
	m := newTestManager(t)
	_, data := dirs(m.store, "web")
	www := filepath.Join(data, "www")
	if err := staticweb.WriteWelcome(www, "Welcome"); err != nil {
		t.Fatal(err)
	}
	site := tarOf(t, entry{name: "index.html", body: "<h1>our site</h1>"}, entry{name: "style.css", body: "h1{}"})
	if err := add(m, AddRequest{Service: "web"}, site); err != nil {
		t.Fatalf("adding a site over the welcome page: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(www, "index.html")); string(b) != "<h1>our site</h1>" {
		t.Errorf("index.html is %q", b)
	}
	err := add(m, AddRequest{Service: "web"}, tarOf(t, entry{name: "index.html", body: "v2"}))
	if err == nil || !strings.Contains(err.Error(), `"index.html" already exists in www of web`) {
		t.Errorf("adding over the site's own index.html: %v", err)
	}
}

// TestStaleStagingRemovedAtStart: what an add cut by a kill left is gone
// when the service starts; an add under way keeps its folder.
func TestStaleStagingRemovedAtStart(t *testing.T) {
	m := newTestManager(t)
	dir := shareDir(m)
	stale := filepath.Join(dir, stagingPrefix+"0123", "half.bin")
	live := filepath.Join(dir, stagingPrefix+"4567")
	nested := filepath.Join(dir, "photos", "2024", stagingPrefix+"89ab")
	for _, d := range []string{filepath.Dir(stale), live, nested} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(stale, []byte("half"), 0o600)
	m.staging[live] = true
	s, _ := m.get("fileshare")
	m.removeStaleStaging(s)
	if _, err := os.Stat(filepath.Dir(stale)); !os.IsNotExist(err) {
		t.Errorf("the stale staging folder is still there: %v", err)
	}
	if _, err := os.Stat(nested); !os.IsNotExist(err) {
		t.Errorf("the stale staging folder of an add --to photos/2024 is still there: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the staging folder of an add under way went: %v", err)
	}
}

// counting is a backend that counts downloads.
type counting struct {
	builtin
	counts map[string]int64
}

func (c counting) Downloads() map[string]int64 { return c.counts }
func (c counting) Close() error                { return nil }

// TestListDownloads: a backend that counts downloads shows them, 0 for a
// file not downloaded yet; a received folder shows none.
func TestListDownloads(t *testing.T) {
	m := newTestManager(t)
	add(m, AddRequest{}, tarOf(t, entry{name: "a", body: "a"}, entry{name: "d/b", body: "b"}))
	s, _ := m.get("fileshare")
	s.backend = counting{counts: map[string]int64{"d/b": 3}}
	l, err := m.ListFiles("fileshare", "", false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, f := range l.Files {
		if f.Downloads == nil {
			t.Fatalf("%s: no download count", f.Name)
		}
		got[f.Name] = *f.Downloads
	}
	if got["a"] != 0 || got["d/b"] != 3 || len(got) != 2 {
		t.Errorf("downloads %v", got)
	}
	os.MkdirAll(filepath.Join(filepath.Dir(shareDir(m)), "received"), 0o700)
	os.WriteFile(filepath.Join(filepath.Dir(shareDir(m)), "received", "up.txt"), []byte("up"), 0o600)
	r, err := m.ListFiles("fileshare", "", true)
	if err != nil || len(r.Files) != 1 || r.Files[0].Name != "up.txt" || r.Files[0].Downloads != nil || r.Kind != "received" {
		t.Errorf("received: %+v %v", r, err)
	}
}

// TestRemoveAndOpenFiles: remove checks every name before removing any;
// a received file opens, a symlink does not.
func TestRemoveAndOpenFiles(t *testing.T) {
	m := newTestManager(t)
	add(m, AddRequest{}, tarOf(t, entry{name: "a", body: "a"}, entry{name: "d/b", body: "b"}))
	if _, err := m.RemoveFiles("fileshare", "", false, []string{"a", "missing"}); err == nil || !strings.Contains(err.Error(), `no file "missing" in share of fileshare; nothing was removed`) {
		t.Fatalf("remove with a missing name: %v", err)
	}
	if _, err := m.RemoveFiles("fileshare", "", false, []string{"../received"}); err == nil {
		t.Fatal("remove ../received: no error")
	}
	if got := folderTree(t, shareDir(m)); len(got) != 3 {
		t.Fatalf("after refused removes: %v", got)
	}
	if _, err := m.RemoveFiles("fileshare", "", false, []string{"a", "d"}); err != nil {
		t.Fatal(err)
	}
	if got := folderTree(t, shareDir(m)); len(got) != 0 {
		t.Errorf("after remove: %v", got)
	}
	recv := filepath.Join(filepath.Dir(shareDir(m)), "received")
	os.MkdirAll(recv, 0o700)
	os.WriteFile(filepath.Join(recv, "up.txt"), []byte("uploaded"), 0o600)
	os.Symlink("/etc/shadow", filepath.Join(recv, "link"))
	f, err := m.OpenFile("fileshare", "", "up.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "uploaded" {
		t.Errorf("read %q", b)
	}
	if _, err := m.OpenFile("fileshare", "", "link"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("open a symlink: %v", err)
	}
	if _, err := m.OpenFile("fileshare", "", "nope"); err == nil || !strings.Contains(err.Error(), `no file "nope" in received of fileshare`) {
		t.Errorf("open a missing file: %v", err)
	}
}

// TestAddOwnedByBackendUser: in a folder a backend's user serves, what an
// add writes is that user's.
func TestAddOwnedByBackendUser(t *testing.T) {
	testenv.RequireRoot(t, "files given to a backend user")
	yaml := `name: site
title: Site
description: A site.
backend:
  command: [true]
  user: nobody
onion_ports:
  - virtual: 80
content:
  - name: www
    title: Site
    kind: offered
    path: www
`
	cat, errs := catalog.Load(fstest.MapFS{"site.yaml": {Data: []byte(yaml)}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	st, err := store.Open(filepath.Join(dir, "state"), filepath.Join(dir, "volatile"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(st, OneTor{T: countedTor{}}, cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := add(m, AddRequest{Service: "site"}, tarOf(t, entry{name: "d/index.html", body: "x"})); err != nil {
		t.Fatal(err)
	}
	_, data := dirs(st, "site")
	var names []string
	for _, p := range []string{"www", "www/d", "www/d/index.html"} {
		fi, err := os.Lstat(filepath.Join(data, p))
		if err != nil {
			t.Fatal(err)
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 65534 {
			names = append(names, p)
		}
	}
	sort.Strings(names)
	if len(names) > 0 {
		t.Errorf("not nobody's: %v", names)
	}
}

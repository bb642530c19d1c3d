package fileshare

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tails-server/internal/apitype"
)

func TestCleanMessage(t *testing.T) {
	long := strings.Repeat("é", MaxMessageBytes/2) // 2 bytes each
	for _, c := range []struct {
		name, raw, want string
		err             error
	}{
		{"plain", "hello", "hello", nil},
		{"CR LF as browsers send", "one\r\ntwo\r\n", "one\ntwo\n", nil},
		{"lone CR", "one\rtwo", "one\ntwo", nil},
		{"tab", "a\tb", "a\tb", nil},
		{"right-to-left text", "שלום", "שלום", nil},
		{"at the cap", long, long, nil},
		{"at the cap in CR LF", strings.Repeat("x\r\n", MaxMessageBytes/2), strings.Repeat("x\n", MaxMessageBytes/2), nil},
		{"over the cap by one byte", long + "x", "", errMessageTooLong},
		{"far over the cap", strings.Repeat("x", 5*MaxMessageBytes), "", errMessageTooLong},
		{"white space only", " \r\n\t\n", "", nil},
		{"empty", "", "", nil},
		{"not UTF-8", "caf\xe9", "", errMessageBad},
		{"NUL", "a\x00b", "", errMessageBad},
		{"escape sequence", "ok\n\x1b[2Jgone", "", errMessageBad},
		{"backspace", "abc\x08\x08", "", errMessageBad},
		{"DEL", "a\x7f", "", errMessageBad},
		{"C1 control", "a\u0085b", "", errMessageBad},
	} {
		got, err := CleanMessage([]byte(c.raw))
		if !errors.Is(err, c.err) || (c.err == nil && err != nil) || got != c.want {
			t.Errorf("%s: got %.40q, %v; want %.40q, %v", c.name, got, err, c.want, c.err)
		}
	}
	_, err := CleanMessage([]byte("fine\nstill fine\nbad \x1b here"))
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "U+001B") {
		t.Errorf("error names neither the line nor the character: %v", err)
	}
}

// msgBody is a multipart post: the message field (unless it is "-")
// before or after the files (name, content pairs).
func msgBody(t *testing.T, message string, first bool, files ...string) (io.Reader, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	field := func() {
		if message != "-" {
			mw.WriteField(messageField, message)
		}
	}
	if first {
		field()
	}
	for i := 0; i+1 < len(files); i += 2 {
		fw, err := mw.CreateFormFile("file", files[i])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(fw, files[i+1])
	}
	if !first {
		field()
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

// msgFixture is a receive handler with messages, kept in the fixture's
// folder beside the shared and received ones.
func msgFixture(t *testing.T, mode string, on bool, mutate ...func(*Config)) (*fixture, *Handler, string) {
	t.Helper()
	f := newFixture(t)
	dir := filepath.Join(f.dir, MessagesFolder)
	h := f.handler(t, mode, append([]func(*Config){func(c *Config) { c.Messages, c.MessagesDir = on, dir }}, mutate...)...)
	return f, h, dir
}

func messages(t *testing.T, dir string) []apitype.Message {
	t.Helper()
	l, err := NewMessageStore(dir).List()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestMessagePosted: with messages on, the form has a text area and no
// file is required; a post of two files and a message keeps the message
// with both names, 0600 in a 0700 folder that no visitor can fetch; a
// message alone is taken; a post of nothing is refused.
func TestMessagePosted(t *testing.T) {
	f, h, dir := msgFixture(t, ModeBoth, true)
	page := get(t, h, "/").Body.String()
	if !strings.Contains(page, `<textarea id="message" name="message"`) || strings.Contains(page, "multiple required") {
		t.Fatalf("the form has no text area, or still requires files:\n%s", page)
	}
	before := time.Now().UTC()
	body, ctype := msgBody(t, "Two files for you.\r\nSecond line.", true, "a.txt", "AAA", "b.txt", "BB")
	w := post(t, h, body, ctype, false)
	if w.Code != http.StatusCreated || !strings.Contains(w.Body.String(), "received your message") {
		t.Fatalf("post: %d %s", w.Code, w.Body)
	}
	l := messages(t, dir)
	if len(l) != 1 || l[0].Text != "Two files for you.\nSecond line." || strings.Join(l[0].Files, ",") != "a.txt,b.txt" ||
		l[0].Time.Before(before.Add(-time.Second)) || l[0].Time.Location() != time.UTC || apitype.CheckMessageID(l[0].ID) != nil {
		t.Fatalf("kept: %+v", l)
	}
	if got := received(t, f); got["a.txt"] != "AAA" || got["b.txt"] != "BB" || len(got) != 2 {
		t.Fatalf("received: %v", got)
	}
	fi, err := os.Stat(filepath.Join(dir, l[0].ID+".json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("message file: %v %v", fi.Mode(), err)
	}
	if di, err := os.Stat(dir); err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("messages folder: %v", err)
	}
	for _, p := range []string{"/files/" + MessagesFolder, "/files/../" + MessagesFolder + "/" + l[0].ID + ".json", "/files/%2e%2e/" + MessagesFolder} {
		if w := get(t, h, p); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, w.Code)
		}
	}

	// A message alone, after a moment: newest first.
	time.Sleep(10 * time.Millisecond)
	body, ctype = msgBody(t, "just words", false)
	if w := post(t, h, body, ctype, true); w.Code != http.StatusCreated {
		t.Fatalf("message alone: %d %s", w.Code, w.Body)
	}
	l = messages(t, dir)
	if len(l) != 2 || l[0].Text != "just words" || len(l[0].Files) != 0 || l[0].Files == nil {
		t.Fatalf("after a message alone: %+v", l)
	}
	// Nothing at all, or white space only.
	for _, m := range []string{"-", " \r\n "} {
		body, ctype = msgBody(t, m, true)
		if w := post(t, h, body, ctype, false); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "Nothing to send") {
			t.Fatalf("empty post %q: %d %s", m, w.Code, w.Body)
		}
	}
	if n := len(messages(t, dir)); n != 2 {
		t.Fatalf("%d messages after empty posts", n)
	}
}

// TestMessageRefusedKeepsNothing: a message over the cap, with a control
// character, twice in one post, or to a share with messages off, is
// refused with its own status, and neither it nor the files of its post
// are kept, wherever the field comes in the form.
func TestMessageRefusedKeepsNothing(t *testing.T) {
	for _, c := range []struct {
		name, message string
		on            bool
		status        int
		says          string
	}{
		{"over the cap", strings.Repeat("x", MaxMessageBytes+1), true, http.StatusRequestEntityTooLarge, "Message too long: the limit is 10000 bytes"},
		{"far over the cap", strings.Repeat("x", 100*MaxMessageBytes), true, http.StatusRequestEntityTooLarge, "Message too long"},
		{"a control character", "ring \a the bell", true, http.StatusBadRequest, "control character U+0007"},
		{"not UTF-8", "\xff\xfe", true, http.StatusBadRequest, "not valid UTF-8"},
		{"messages off", "hello", false, http.StatusBadRequest, "takes files only, no messages"},
		{"messages off, a long one", strings.Repeat("x", 3*MaxMessageBytes), false, http.StatusBadRequest, "takes files only, no messages"},
	} {
		for _, first := range []bool{true, false} {
			f, h, dir := msgFixture(t, ModeReceive, c.on)
			body, ctype := msgBody(t, c.message, first, "a.txt", "AAA", "b.txt", "BB")
			w := post(t, h, body, ctype, !first)
			if w.Code != c.status || !strings.Contains(w.Body.String(), c.says) || !strings.Contains(w.Body.String(), "Nothing of this post was kept") {
				t.Errorf("%s (message first: %v): %d %q", c.name, first, w.Code, w.Body)
			}
			if got := received(t, f); len(got) != 0 {
				t.Errorf("%s: files kept: %v", c.name, got)
			}
			if l := messages(t, dir); len(l) != 0 {
				t.Errorf("%s: messages kept: %v", c.name, l)
			}
		}
	}
	// Two message fields in one post.
	f, h, dir := msgFixture(t, ModeReceive, true)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField(messageField, "one")
	mw.WriteField(messageField, "two")
	mw.Close()
	if w := post(t, h, &b, mw.FormDataContentType(), false); w.Code != http.StatusBadRequest || len(messages(t, dir)) != 0 || len(received(t, f)) != 0 {
		t.Errorf("two messages in a post: %d %s", w.Code, w.Body)
	}
}

// TestMessagesOff: without the option the form has no text area; files
// still come, with an empty message field too; no messages folder is
// made.
func TestMessagesOff(t *testing.T) {
	f, h, dir := msgFixture(t, ModeReceive, false)
	page := get(t, h, "/").Body.String()
	if strings.Contains(page, "textarea") || !strings.Contains(page, "multiple required") {
		t.Fatalf("page with messages off:\n%s", page)
	}
	body, ctype := msgBody(t, "", true, "a.txt", "AAA")
	if w := post(t, h, body, ctype, false); w.Code != http.StatusCreated {
		t.Fatalf("files with an empty message: %d %s", w.Code, w.Body)
	}
	if len(received(t, f)) != 1 || len(messages(t, dir)) != 0 {
		t.Fatal("files with an empty message: not kept as they should be")
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a messages folder was made with no message: %v", err)
	}
}

// TestMessagesFull: past its count the store refuses a post with a
// message (507) and keeps nothing of it, until the host deletes one.
func TestMessagesFull(t *testing.T) {
	f, h, dir := msgFixture(t, ModeReceive, true, func(c *Config) { c.MaxMessages = 3 })
	for i := range 3 {
		body, ctype := msgBody(t, fmt.Sprint("m", i), true)
		if w := post(t, h, body, ctype, false); w.Code != http.StatusCreated {
			t.Fatalf("message %d: %d %s", i, w.Code, w.Body)
		}
	}
	for _, first := range []bool{true, false} {
		body, ctype := msgBody(t, "one too many", first, "x.txt", "X")
		w := post(t, h, body, ctype, false)
		if w.Code != http.StatusInsufficientStorage || !strings.Contains(w.Body.String(), "message box is full") {
			t.Fatalf("past the count: %d %s", w.Code, w.Body)
		}
	}
	if len(received(t, f)) != 0 || len(messages(t, dir)) != 3 {
		t.Fatal("a refused post kept something")
	}
	// Files alone still come.
	body, ctype := msgBody(t, "-", true, "x.txt", "X")
	if w := post(t, h, body, ctype, false); w.Code != http.StatusCreated {
		t.Fatalf("files alone, store full: %d %s", w.Code, w.Body)
	}
	if err := h.msgs().Delete(messages(t, dir)[0].ID); err != nil {
		t.Fatal(err)
	}
	body, ctype = msgBody(t, "room again", true)
	if w := post(t, h, body, ctype, false); w.Code != http.StatusCreated {
		t.Fatalf("after a delete: %d %s", w.Code, w.Body)
	}
}

// TestMessagesAtOnce: many posts at once never take the store past its
// count, and a refused one keeps neither its message nor its file.
func TestMessagesAtOnce(t *testing.T) {
	f, h, dir := msgFixture(t, ModeReceive, true, func(c *Config) { c.MaxUploads, c.MaxMessages = 40, 5 })
	var wg sync.WaitGroup
	codes := make(chan int, 30)
	for i := range 30 {
		wg.Go(func() {
			body, ctype := msgBody(t, fmt.Sprint("message ", i), i%2 == 0, fmt.Sprintf("f%d.txt", i), "data")
			codes <- post(t, h, body, ctype, false).Code
		})
	}
	wg.Wait()
	close(codes)
	n := map[int]int{}
	for c := range codes {
		n[c]++
	}
	if n[http.StatusCreated] != 5 || n[http.StatusInsufficientStorage] != 25 {
		t.Fatalf("statuses: %v", n)
	}
	l := messages(t, dir)
	got := received(t, f)
	if len(l) != 5 || len(got) != 5 {
		t.Fatalf("%d messages, %d files kept; want 5 and 5", len(l), len(got))
	}
	for _, m := range l {
		if len(m.Files) != 1 || got[m.Files[0]] != "data" {
			t.Errorf("message %q names %v, not a file kept", m.Text, m.Files)
		}
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(tmp) != 0 {
		t.Fatalf("left behind: %v", tmp)
	}
}

// TestMessagesNotThroughSymlinks: a messages folder that is a symlink is
// neither written through nor read through.
func TestMessagesNotThroughSymlinks(t *testing.T) {
	f := newFixture(t)
	elsewhere := t.TempDir()
	dir := filepath.Join(f.dir, MessagesFolder)
	if err := os.Symlink(elsewhere, dir); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Mode: ModeReceive, SharedDir: f.shared, ReceivedDir: f.received, Messages: true, MessagesDir: dir}
	if _, err := NewHandler(cfg); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("started with a symlinked messages folder: %v", err)
	}
	// Made a symlink while the handler runs.
	os.Remove(dir)
	h := f.handler(t, ModeReceive, func(c *Config) { c.Messages, c.MessagesDir = true, dir })
	os.Remove(dir)
	if err := os.Symlink(elsewhere, dir); err != nil {
		t.Fatal(err)
	}
	body, ctype := msgBody(t, "hello", false, "a.txt", "A")
	if w := post(t, h, body, ctype, false); w.Code == http.StatusCreated {
		t.Fatalf("post through a symlinked folder: %d", w.Code)
	}
	if e, _ := os.ReadDir(elsewhere); len(e) != 0 || len(received(t, f)) != 0 {
		t.Fatalf("written through the symlink, or files kept: %v", e)
	}
	os.WriteFile(filepath.Join(elsewhere, "0123456789abcdef.json"), []byte(`{"id":"0123456789abcdef","text":"planted"}`), 0o600)
	if _, err := NewMessageStore(dir).List(); err == nil {
		t.Fatal("listed through a symlink")
	}
	// A message file that is a symlink is not read.
	os.Remove(dir)
	os.Mkdir(dir, 0o700)
	os.Symlink(filepath.Join(elsewhere, "0123456789abcdef.json"), filepath.Join(dir, "0123456789abcdef.json"))
	if l := messages(t, dir); len(l) != 0 {
		t.Fatalf("read through a symlinked file: %v", l)
	}
}

func TestMessageStoreDelete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), MessagesFolder)
	s := NewMessageStore(dir)
	m, err := s.Add("hi", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"../../etc/passwd", "0123456789ABCDEF", "0123", m.ID + ".json", ""} {
		if err := s.Delete(id); !IsBadMessageID(err) {
			t.Errorf("Delete(%q): %v, want a bad ID", id, err)
		}
	}
	if err := s.Delete("0123456789abcdef"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing ID: %v", err)
	}
	if err := s.Delete(m.ID); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.List(); len(l) != 0 {
		t.Fatalf("after delete: %v", l)
	}
}

// TestMessagesStartClean: temporary files a kill left are removed when
// the handler starts; a messages folder inside a served one is refused.
func TestMessagesStartClean(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(f.dir, MessagesFolder)
	os.Mkdir(dir, 0o700)
	os.WriteFile(filepath.Join(dir, ".tmp-0011223344556677"), []byte("half"), 0o600)
	f.handler(t, ModeReceive, func(c *Config) { c.Messages, c.MessagesDir = true, dir })
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(tmp) != 0 {
		t.Fatalf("left behind: %v", tmp)
	}
	for _, bad := range []string{filepath.Join(f.received, "m"), f.shared, "relative"} {
		if _, err := NewHandler(Config{Mode: ModeReceive, SharedDir: f.shared, ReceivedDir: f.received, Messages: true, MessagesDir: bad}); err == nil {
			t.Errorf("messages folder %s accepted", bad)
		}
	}
	if _, err := NewHandler(Config{Mode: ModeReceive, SharedDir: f.shared, ReceivedDir: f.received, Messages: true}); err == nil {
		t.Error("messages on without a folder accepted")
	}
}

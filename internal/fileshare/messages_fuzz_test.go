package fileshare

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzCleanMessage: what CleanMessage accepts is valid UTF-8 within the
// cap, with no control character but newlines and tabs and no CR, and
// is accepted again unchanged.
func FuzzCleanMessage(f *testing.F) {
	for _, s := range []string{"hello", "a\r\nb\rc", "\x1b[31mred", "caf\xe9", " \t\n", strings.Repeat("é", 5001), "\u0085", "ok\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		text, err := CleanMessage(raw)
		if err != nil {
			if text != "" {
				t.Fatalf("refused, yet text %q", text)
			}
			return
		}
		if !utf8.ValidString(text) || len(text) > MaxMessageBytes || strings.ContainsRune(text, '\r') {
			t.Fatalf("accepted %q", text)
		}
		for _, r := range text {
			if r != '\n' && r != '\t' && unicode.IsControl(r) {
				t.Fatalf("accepted a control character U+%04X", r)
			}
		}
		if again, err := CleanMessage([]byte(text)); err != nil || again != text {
			t.Fatalf("not accepted again unchanged: %q %v", again, err)
		}
	})
}

// msgForm is a multipart body with fuzzBoundary: a message field, then
// one file.
func msgForm(message, name, content string) []byte {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.SetBoundary(fuzzBoundary)
	mw.WriteField(messageField, message)
	w, _ := mw.CreateFormFile("file", name)
	w.Write([]byte(content))
	mw.Close()
	return b.Bytes()
}

// FuzzMessagePost posts arbitrary bodies to a receive handler with
// messages on: never a server error; an answer other than 201 leaves no
// file and no message; every message kept is one CleanMessage accepts,
// naming files that are there.
func FuzzMessagePost(f *testing.F) {
	f.Add(msgForm("hello", "a.txt", "x"))
	f.Add(msgForm("bad \x07", "a.txt", "x"))
	f.Add(msgForm(strings.Repeat("y", MaxMessageBytes+1), "a.txt", "x"))
	f.Add(msgForm("", "a.txt", "x"))
	f.Add([]byte("--" + fuzzBoundary + "\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nunterminated"))
	f.Fuzz(func(t *testing.T, body []byte) {
		dir := t.TempDir()
		w := fuzzPost(t, Config{Mode: ModeReceive, SharedDir: dir + "/shared", ReceivedDir: dir + "/received",
			MaxUpload: 64, Messages: true, MessagesDir: dir + "/" + MessagesFolder}, body)
		switch w.Code {
		case http.StatusCreated, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		files, err := os.ReadDir(dir + "/received")
		if err != nil {
			t.Fatal(err)
		}
		l, err := NewMessageStore(dir + "/" + MessagesFolder).List()
		if err != nil {
			t.Fatal(err)
		}
		if w.Code != http.StatusCreated {
			if len(files) != 0 || len(l) != 0 {
				t.Fatalf("status %d, yet %d files and %d messages kept", w.Code, len(files), len(l))
			}
			return
		}
		for _, m := range l {
			if again, err := CleanMessage([]byte(m.Text)); err != nil || again != m.Text || m.Text == "" {
				t.Fatalf("kept a message CleanMessage refuses: %q", m.Text)
			}
			for _, n := range m.Files {
				if _, err := os.Stat(dir + "/received/" + n); err != nil {
					t.Fatalf("the message names %q, which is not there", n)
				}
			}
		}
	})
}

// fuzzPost posts body, a multipart form with fuzzBoundary, to /upload of
// a handler of cfg.
func fuzzPost(t *testing.T, cfg Config, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/upload", bytes.NewReader(body))
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+fuzzBoundary)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

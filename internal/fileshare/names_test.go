package fileshare

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestSanitizeName: a received name is a plain base name with nothing
// hidden in it. Format characters (bidi overrides and isolates,
// zero-width characters) are removed, so "invoice\u202Efdp.exe" cannot
// pass for a .pdf in a file manager, and a name of invisible characters
// only is refused.
func TestSanitizeName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"../../etc/passwd", "passwd"},
		{`C:\Users\x\doc.txt`, "doc.txt"},
		{".bashrc", "bashrc"},
		{"..", "upload"},
		{"", "upload"},
		{"a\nb\x00c.txt", "abc.txt"},
		{"  spaced .txt ", "spaced .txt"},
		{strings.Repeat("é", 150), strings.Repeat("é", 100)},
		// Right-to-left override: shows as "invoiceexe.pdf".
		{"invoice\u202Efdp.exe", "invoicefdp.exe"},
		{"invoice\u202Bfdp\u202C.exe", "invoicefdp.exe"}, // embedding + pop
		{"a\u2066b\u2067c\u2068d\u2069.txt", "abcd.txt"}, // isolates
		{"\u200Bsecret\u200C\u200D\u2060.txt", "secret.txt"},
		{"\uFEFFbom.txt", "bom.txt"},
		{"soft\u00ADhyphen.txt", "softhyphen.txt"},
		{"line\u2028para\u2029.txt", "linepara.txt"},
		{"\u061Carabic mark.txt", "arabic mark.txt"},
		{"x/\u202E", ""},
		{"\u202E", ""},
		{"\u200B\u200B", ""},
		{". \u2066.", ""},
		{"ok\u202E/fine.txt", "fine.txt"},
		{"café.txt", "café.txt"},
	} {
		got, err := SanitizeName(c.in)
		if c.want == "" {
			if !errors.Is(err, ErrInvisibleName) {
				t.Errorf("SanitizeName(%+q) = %+q, %v; want it refused", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("SanitizeName(%+q) = %+q, %v; want %+q", c.in, got, err, c.want)
		}
	}
}

// TestUploadDisguisedName: through the handler, the override is gone from
// the stored name, and an invisible name is refused with nothing kept.
func TestUploadDisguisedName(t *testing.T) {
	f := newFixture(t)
	h := f.handler(t, ModeReceive)
	body, ctype := multipartBody(t, "invoice\u202Efdp.exe", "MZ")
	if w := post(t, h, body, ctype, false); w.Code != http.StatusCreated {
		t.Fatalf("upload: %d %s", w.Code, w.Body)
	}
	body, ctype = multipartBody(t, "fine.txt", "fine", "\u202E\u200B", "hidden")
	w := post(t, h, body, ctype, false)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "rename the file") {
		t.Fatalf("invisible name: %d %s", w.Code, w.Body)
	}
	got := received(t, f)
	if len(got) != 1 || got["invoicefdp.exe"] != "MZ" {
		t.Fatalf("received %+q, want only invoicefdp.exe", got)
	}
}

package fileshare

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// unsafeName says what is wrong with a received file's name, or "".
func unsafeName(n string) string {
	switch {
	case n == "" || n == "." || n == "..":
		return "empty or a dot name"
	case strings.HasPrefix(n, "."):
		return "a dot file"
	case strings.ContainsAny(n, `/\`):
		return "a slash or backslash"
	case !utf8.ValidString(n):
		return "not UTF-8"
	case len(n) > 255:
		return "longer than a file name may be"
	case n != strings.TrimSpace(n):
		return "surrounding spaces"
	}
	for _, r := range n {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return fmt.Sprintf("control or format character %U", r)
		}
	}
	return ""
}

// sanitizeName is SanitizeName with ok false for a refused name (one
// that is nothing but invisible characters).
func sanitizeName(n string) (name string, ok bool) {
	s, err := SanitizeName(n)
	return s, err == nil
}

// FuzzSanitizeName: whatever a client calls its file, the name it is
// stored under (if it is not refused) is one plain, visible base name.
func FuzzSanitizeName(f *testing.F) {
	for _, s := range []string{"report.pdf", "../../etc/passwd", `C:\Users\x\doc.txt`, ".bashrc", "..", "", "a\nb\x00c.txt",
		"  spaced .txt ", strings.Repeat("é", 150), "evil\u202egnp.exe", "zero\u200bwidth", "\ufeffbom", "a/..", ". .x", "\xff\xfe.txt",
		strings.Repeat("a", 300) + ".txt", "x." + strings.Repeat("é", 120)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := sanitizeName(in)
		if !ok {
			return
		}
		if why := unsafeName(out); why != "" {
			t.Fatalf("SanitizeName(%q) = %q: %s", in, out, why)
		}
		if again, ok := sanitizeName(out); !ok || again != out {
			t.Fatalf("SanitizeName(%q) = %q, but that sanitizes to %q", in, out, again)
		}
	})
}

const fuzzBoundary = "fuzzboundary"

// fuzzForm builds a multipart body with fuzzBoundary from name/content
// pairs of file parts.
func fuzzForm(pairs ...string) []byte {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.SetBoundary(fuzzBoundary)
	mw.WriteField("comment", "x")
	for i := 0; i+1 < len(pairs); i += 2 {
		w, _ := mw.CreateFormFile("file", pairs[i])
		io.WriteString(w, pairs[i+1])
	}
	mw.Close()
	return b.Bytes()
}

// FuzzUpload posts arbitrary multipart bodies to the receive handler: it
// never fails with a server error; the received folder only ever holds
// whole files with safe names directly in it, never a temporary file;
// and a 201 answer means every file part was stored, with its content.
func FuzzUpload(f *testing.F) {
	f.Add(fuzzForm("report.pdf", "one", `..\..\evil.sh`, "two", "/etc/passwd", "three", "..", "four"))
	f.Add(fuzzForm("a.txt", "x", "a.txt", "y", "a (1).txt", "z"))
	f.Add(fuzzForm("big.bin", strings.Repeat("x", 100)))
	f.Add(fuzzForm("evil\u202egnp.exe", "x", "\x00\n.txt", "y"))
	f.Add([]byte("--" + fuzzBoundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%2e%2e%2fx\r\n\r\nx\r\n--" + fuzzBoundary + "--\r\n"))
	f.Add([]byte("--" + fuzzBoundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nunterminated"))
	f.Fuzz(func(t *testing.T, body []byte) {
		dir := t.TempDir()
		w := fuzzPost(t, Config{Mode: ModeReceive, SharedDir: dir + "/shared", ReceivedDir: dir + "/received", MaxUpload: 64}, body)
		switch w.Code {
		case http.StatusCreated, http.StatusBadRequest, http.StatusRequestEntityTooLarge,
			http.StatusServiceUnavailable, http.StatusInsufficientStorage: // busy, quota
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		entries, err := os.ReadDir(dir + "/received")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			if !e.Type().IsRegular() {
				t.Fatalf("received %q is not a regular file", e.Name())
			}
			if why := unsafeName(e.Name()); why != "" {
				t.Fatalf("received a file named %q: %s", e.Name(), why)
			}
			b, err := os.ReadFile(dir + "/received/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(b))
		}
		if w.Code != http.StatusCreated {
			return
		}
		// The same body as a client library reads it.
		var want []string
		mr := multipart.NewReader(bytes.NewReader(body), fuzzBoundary)
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("201 for a body that does not parse: %v", err)
			}
			b, err := io.ReadAll(p)
			if err != nil {
				t.Fatalf("201 for a part that does not read: %v", err)
			}
			if p.FormName() == "file" && p.FileName() != "" {
				want = append(want, string(b))
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("201, but the folder holds %q, the upload had %q", got, want)
		}
	})
}

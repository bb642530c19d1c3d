package services

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

// formOf is a multipart/form-data body as a browser posts a form's
// <input type=file name=file multiple>, and its boundary.
func formOf(t *testing.T, fields ...[2]string) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		w, err := mw.CreateFormFile("file", f[0])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, f[1])
	}
	mw.Close()
	return b.Bytes(), mw.Boundary()
}

// TestAddFromForm: a browser's form of files (sizes not known ahead, base
// names only) lands like a tar stream; an empty file input is skipped.
func TestAddFromForm(t *testing.T) {
	m := newTestManager(t)
	body, boundary := formOf(t, [2]string{"report.pdf", "%PDF report"}, [2]string{"", ""}, [2]string{"notes.txt", "some notes"})
	res, err := m.AddFiles(context.Background(), AddRequest{Service: "fileshare", Boundary: boundary}, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Added, ",") != "report.pdf,notes.txt" || res.Files != 2 || res.Bytes != 21 {
		t.Errorf("result %+v", res)
	}
	want := map[string]string{"report.pdf": "%PDF report", "notes.txt": "some notes"}
	if got := folderTree(t, shareDir(m)); !equalTree(got, want) {
		t.Errorf("share folder holds %v, want %v", got, want)
	}
}

// TestAddFromFormRefused: a bad name, another field, a form cut in the
// middle of a file, nothing picked: each refused with one line, nothing
// added (the first file of the form included).
func TestAddFromFormRefused(t *testing.T) {
	m := newTestManager(t)
	good, boundary := formOf(t, [2]string{"first.txt", "fine"}, [2]string{".hidden", "x"})
	cut, cutBoundary := formOf(t, [2]string{"first.txt", "fine"}, [2]string{"big.bin", strings.Repeat("x", 4096)})
	var other bytes.Buffer
	mw := multipart.NewWriter(&other)
	w, _ := mw.CreateFormFile("file", "first.txt")
	io.WriteString(w, "fine")
	mw.WriteField("to", "../received")
	mw.Close()
	empty, emptyBoundary := formOf(t, [2]string{"", ""})
	for _, c := range []struct {
		what, boundary, want string
		body                 []byte
	}{
		{"a dot name", boundary, "starts with a dot", good},
		{"cut in the middle", cutBoundary, "cut off", cut[:len(cut)-2000]},
		{"another field", mw.Boundary(), `a field "to"`, other.Bytes()},
		{"nothing picked", emptyBoundary, "nothing to add", empty},
		{"not a form", "xyz", "nothing to add", []byte("hello")},
	} {
		_, err := m.AddFiles(context.Background(), AddRequest{Service: "fileshare", Boundary: c.boundary}, bytes.NewReader(c.body))
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusBadRequest || !strings.Contains(e.Msg, c.want) || strings.Contains(e.Msg, "\n") {
			t.Errorf("%s: %v, want a one-line 400 saying %q", c.what, err, c.want)
		}
		if got := folderTree(t, shareDir(m)); len(got) != 0 {
			t.Errorf("%s: the share holds %v after the refusal", c.what, got)
		}
	}
}

package e2e

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// dosTime reads a zip entry's legacy MS-DOS date and time as a wall clock.
func dosTime(zf *zip.File) time.Time {
	d, c := zf.ModifiedDate, zf.ModifiedTime
	return time.Date(int(d>>9)+1980, time.Month(d>>5&0xf), int(d&0x1f), int(c>>11), int(c>>5&0x3f), int(c&0x1f)*2, 0, time.UTC)
}

// TestVisitorsLearnNothingOfTheHost runs the daemon in New York time and
// fetches what a visitor can fetch from web and fileshare (pages, error
// pages, files, zip archives, an upload's answer: headers and bodies),
// searching every byte for the host's paths (the state and volatile
// roots, whose names would give a user name or link the services) and
// for its time zone. Zip entries must carry the same time in their legacy
// MS-DOS field as in their UTC timestamp, and no file time unless the
// host turns file-times on.
func TestVisitorsLearnNothingOfTheHost(t *testing.T) {
	requireNet(t)
	t.Setenv("TZ", "America/New_York")
	tmp := t.TempDir()
	state, socket := filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock")
	d := startDaemon(t, state, socket)
	for _, name := range []string{"web", "fileshare"} {
		if out := d.mustCLI("enable", name, "--wait", "150s"); !strings.Contains(out, "reachable: true") {
			t.Fatalf("enable %s:\n%s", name, out)
		}
	}
	d.mustCLI("set-option", "fileshare", "mode", "both")

	// The host's files, last changed at a known time.
	mtime := time.Date(2024, 7, 4, 15, 30, 10, 0, time.UTC)
	data := filepath.Join(d.service("fileshare").Details.DataDir, "data")
	www := filepath.Join(d.service("web").Details.DataDir, "data", "www")
	for p, c := range map[string]string{
		filepath.Join(data, "share", "report.txt"):         "report",
		filepath.Join(data, "share", "album", "one.txt"):   "one",
		filepath.Join(www, "about.html"):                   "<p>about</p>",
		filepath.Join(data, "share", "album", "deep", "x"): "x",
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, root := range []string{filepath.Join(data, "share"), www} {
		filepath.Walk(root, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, mtime, mtime) })
	}

	// What the host's paths and time zone would look like.
	// Full paths, and the names that are unique to this host: the test's
	// folder (standing for a user's home) and the volatile root's.
	secrets := []string{tmp, state, state + "-volatile", data, www,
		filepath.Base(filepath.Dir(tmp)), filepath.Base(state + "-volatile")}
	zone := regexp.MustCompile(`[+-]0[45]00\b|\bE[DS]T\b|America|New_York`)
	check := func(t *testing.T, what string, dump []byte) {
		t.Helper()
		for _, s := range secrets {
			if bytes.Contains(dump, []byte(s)) {
				t.Errorf("%s shows the host's %q:\n%.2000s", what, s, dump)
			}
		}
		if m := zone.Find(dump); m != nil {
			t.Errorf("%s shows a time zone (%q):\n%.2000s", what, m, dump)
		}
	}
	fetch := func(t *testing.T, req *http.Request) ([]byte, *http.Response) {
		t.Helper()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		dump, err := httputil.DumpResponse(resp, true)
		if err != nil {
			t.Fatal(err)
		}
		check(t, req.Method+" "+req.URL.Path, dump)
		return body, resp
	}
	get := func(t *testing.T, svc, path string) ([]byte, *http.Response) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+d.service(svc).Details.LocalAddress+path, nil)
		return fetch(t, req)
	}
	zipTimes := func(t *testing.T, b []byte, want time.Time) {
		t.Helper()
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if len(zr.File) < 4 {
			t.Fatalf("zip holds %d entries", len(zr.File))
		}
		for _, zf := range zr.File {
			if dos := dosTime(zf); !dos.Equal(zf.Modified) {
				t.Errorf("%s: MS-DOS time %v, UTC time %v: %v apart, the host's offset", zf.Name, dos, zf.Modified.UTC(), dos.Sub(zf.Modified))
			}
			if !zf.Modified.Equal(want) {
				t.Errorf("%s: time %v, want %v", zf.Name, zf.Modified.UTC(), want)
			}
		}
	}

	t.Run("web", func(t *testing.T) {
		page, _ := get(t, "web", "/")
		if !bytes.Contains(page, []byte("<h1>Welcome</h1>")) {
			t.Fatalf("welcome page:\n%s", page)
		}
		for _, p := range []string{"/index.html", "/about.html", "/nope", "/.hidden"} {
			_, resp := get(t, "web", p)
			if lm := resp.Header.Get("Last-Modified"); lm != "" {
				t.Errorf("%s: Last-Modified %q", p, lm)
			}
		}
	})

	t.Run("fileshare", func(t *testing.T) {
		for _, p := range []string{"/", "/files/album/", "/files/report.txt", "/style.css", "/nope", "/files/report.txt?x"} {
			_, resp := get(t, "fileshare", p)
			if lm := resp.Header.Get("Last-Modified"); lm != "" {
				t.Errorf("%s: Last-Modified %q", p, lm)
			}
		}
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "hello.txt")
		io.WriteString(fw, "hello")
		mw.Close()
		req, _ := http.NewRequest(http.MethodPost, "http://"+d.service("fileshare").Details.LocalAddress+"/upload", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		if _, resp := fetch(t, req); resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload: %d", resp.StatusCode)
		}
		z, _ := get(t, "fileshare", "/zip/")
		zipTimes(t, z, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
	})

	t.Run("fileshare with file-times", func(t *testing.T) {
		d.mustCLI("set-option", "fileshare", "file-times", "true")
		var z []byte
		waitFor(t, 30*time.Second, "fileshare back", func() error {
			_, resp := get(t, "fileshare", "/files/report.txt")
			if lm := resp.Header.Get("Last-Modified"); lm != "Thu, 04 Jul 2024 15:30:10 GMT" {
				return fmt.Errorf("Last-Modified %q (HTTP %d)", lm, resp.StatusCode)
			}
			return nil
		})
		z, _ = get(t, "fileshare", "/zip/")
		zipTimes(t, z, mtime)
	})
}

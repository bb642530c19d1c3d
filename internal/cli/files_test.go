package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"tails-server/internal/apitype"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func planNames(t *testing.T, paths ...string) ([]string, string, error) {
	t.Helper()
	var stderr bytes.Buffer
	entries, _, err := planAdd(&env{stderr: &stderr}, paths)
	var names []string
	for _, e := range entries {
		n := e.name
		if e.dir {
			n += "/"
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return names, stderr.String(), err
}

// TestPlanAdd: a folder is added by its name, or with a trailing / what
// it holds; dot names inside are skipped with a note; a symlink inside
// to a file inside is followed, one pointing outside is refused, as is a
// name a visitor would be misled by.
func TestPlanAdd(t *testing.T) {
	dir := t.TempDir()
	site := filepath.Join(dir, "site")
	writeFiles(t, site, map[string]string{"index.html": "i", "css/a.css": "a", ".git/config": "g"})
	writeFiles(t, dir, map[string]string{"report.pdf": "r", "secret.txt": "s"})
	os.Symlink("index.html", filepath.Join(site, "home.html"))

	names, note, err := planNames(t, site+"/")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, " ") != "css/ css/a.css home.html index.html" || !strings.Contains(note, "skipped "+filepath.Join(site, ".git")) {
		t.Errorf("site/: %v, note %q", names, note)
	}
	names, _, err = planNames(t, site, filepath.Join(dir, "report.pdf"))
	if err != nil || strings.Join(names, " ") != "report.pdf site/ site/css/ site/css/a.css site/home.html site/index.html" {
		t.Errorf("site report.pdf: %v %v", names, err)
	}

	os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(site, "leak.txt"))
	if _, _, err := planNames(t, site+"/"); err == nil || !strings.Contains(err.Error(), "leak.txt: a symbolic link pointing outside") {
		t.Errorf("symlink outside: %v", err)
	}
	os.Remove(filepath.Join(site, "leak.txt"))

	for _, bad := range []string{"invoice\u202Efdp.exe", "bell\x07.txt"} {
		writeFiles(t, dir, map[string]string{bad: "x"})
		if _, _, err := planNames(t, filepath.Join(dir, bad)); err == nil || !errors.Is(err, apitype.ErrBadName) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v, want a bad name error on one line", bad, err)
		}
	}
	if _, _, err := planNames(t, filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "no such file or folder") {
		t.Errorf("missing: %v", err)
	}
	if _, _, err := planNames(t, filepath.Join(dir, "report.pdf"), filepath.Join(site, "..", "report.pdf")); err == nil || !strings.Contains(err.Error(), "both are named report.pdf") {
		t.Errorf("twice: %v", err)
	}
}

// filesAPI is a daemon stand-in for the files endpoints: it records the
// tar stream an add sends and serves one received file.
func filesAPI(t *testing.T, got *[]string, file string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+apitype.Version+"/services/fileshare/files", func(w http.ResponseWriter, r *http.Request) {
		tr := tar.NewReader(r.Body)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(tr)
			*got = append(*got, h.Name+"="+string(b))
		}
		*got = append(*got, "total="+r.Header.Get(apitype.FilesTotalHeader))
		json.NewEncoder(w).Encode(apitype.AddResult{Service: "fileshare", Folder: "share", Added: []string{"x"}})
	})
	mux.HandleFunc("GET "+apitype.Version+"/services/fileshare/file", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("name") != "up.txt" {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(apitype.Error{Error: `no file "` + r.URL.Query().Get("name") + `" in received of fileshare`})
			return
		}
		io.WriteString(w, file)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// TestFilesAddSends: add streams the files as planned, with their total.
func TestFilesAddSends(t *testing.T) {
	var got []string
	sock := filesAPI(t, &got, "")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.txt": "aaa", "d/b.txt": "bb"})
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"--socket", sock, "files", "add", "fileshare", filepath.Join(dir, "a.txt"), filepath.Join(dir, "d")}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if strings.Join(got, " ") != "a.txt=aaa d/= d/b.txt=bb total=5" {
		t.Errorf("sent %v", got)
	}
}

// TestFilesSave: save writes the file, the caller's, under a free name;
// a second save of the same file is "name (1)", and no temporary file
// stays.
func TestFilesSave(t *testing.T) {
	sock := filesAPI(t, new([]string), "uploaded bytes")
	dir := t.TempDir()
	for i, want := range []string{"up.txt", "up (1).txt"} {
		var out, errOut bytes.Buffer
		if code := Main(context.Background(), []string{"--socket", sock, "-o", "json", "files", "save", "fileshare", "up.txt", "--to", dir}, &out, &errOut); code != 0 {
			t.Fatalf("save %d: exit %d: %s", i, code, errOut.String())
		}
		var saved []apitype.SavedFile
		if err := json.Unmarshal(out.Bytes(), &saved); err != nil || len(saved) != 1 || saved[0].Path != filepath.Join(dir, want) {
			t.Fatalf("save %d printed %s (%v)", i, out.String(), err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, want)); string(b) != "uploaded bytes" {
			t.Errorf("%s holds %q", want, b)
		}
	}
	var errOut bytes.Buffer
	code := Main(context.Background(), []string{"--socket", sock, "files", "save", "fileshare", "gone.txt", "--to", dir}, io.Discard, &errOut)
	if code != ExitFailure || errOut.String() != "tails-server: error: no file \"gone.txt\" in received of fileshare\n" {
		t.Errorf("save of a missing file: exit %d, %q", code, errOut.String())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("the folder holds %d files, want the 2 saved", len(ents))
	}
	if code := Main(context.Background(), []string{"--socket", sock, "files", "save", "fileshare", "up.txt"}, io.Discard, &errOut); code != ExitUsage {
		t.Errorf("save without --to: exit %d", code)
	}
}

// TestFilesAddRefusedPartWay: the daemon refuses an add part-way through
// the stream (a name that exists, a full disk) and closes: the CLI shows
// its error, not a broken connection.
func TestFilesAddRefusedPartWay(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.CopyN(io.Discard, r.Body, 4096)
		// Answer and close at once, the rest of the body unread.
		conn, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		body, _ := json.Marshal(apitype.Error{Error: `not enough free space for "big.bin"`})
		fmt.Fprintf(bw, "HTTP/1.1 507 Insufficient Storage\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
		bw.Flush()
		conn.Close()
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"big.bin": strings.Repeat("x", 32<<20)})
	for i := range 5 {
		var errOut bytes.Buffer
		code := Main(context.Background(), []string{"--socket", sock, "files", "add", "fileshare", filepath.Join(dir, "big.bin")}, io.Discard, &errOut)
		if code != ExitFailure || errOut.String() != "tails-server: error: not enough free space for \"big.bin\"\n" {
			t.Fatalf("try %d: exit %d, %q", i, code, errOut.String())
		}
	}
}

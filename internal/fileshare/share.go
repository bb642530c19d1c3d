package fileshare

import (
	"archive/zip"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

func (h *Handler) file(w http.ResponseWriter, r *http.Request, raw string) {
	root, name, ok := h.openShared(w, r, raw)
	if !ok {
		return
	}
	defer root.Close()
	// os.Root refuses symlinks (and ..) that lead out of the folder.
	f, err := root.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if fi.IsDir() {
		if !strings.HasSuffix(r.URL.Path, "/") {
			http.Redirect(w, r, hrefFiles(name, true), http.StatusMovedPermanently)
			return
		}
		h.page(w, r, name)
		return
	}
	if !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	// A shared file is a download, never a page of this site.
	hd.Set("Content-Disposition", attachment(fi.Name()))
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, fi.Name(), fi.ModTime(), f)
	if r.Method == http.MethodGet && cw.status() == http.StatusOK && cw.n == fi.Size() {
		h.downloaded()
	}
}

// attachment is a Content-Disposition that makes a download of name (or
// a download without a name, if the header cannot carry it).
func attachment(name string) string {
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
		return v
	}
	return "attachment"
}

// countingWriter counts the body bytes written, keeping sendfile (through
// ReadFrom) available.
type countingWriter struct {
	http.ResponseWriter
	code int
	n    int64
}

func (c *countingWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := c.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{c.ResponseWriter}, r)
	}
	c.n += n
	return n, err
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *countingWriter) status() int {
	if c.code == 0 {
		return http.StatusOK
	}
	return c.code
}

// zip streams a folder as a zip archive: each file is copied from disk
// into the response as it is read, so memory stays flat whatever the
// folder holds. Files are stored, not compressed: shared files are mostly
// compressed already, and the CPU is better spent on Tor.
func (h *Handler) zip(w http.ResponseWriter, r *http.Request, raw string) {
	root, name, ok := h.openShared(w, r, raw)
	if !ok {
		return
	}
	defer root.Close()
	fi, err := root.Stat(name)
	if err != nil || !fi.IsDir() {
		http.NotFound(w, r)
		return
	}
	base := "shared"
	if name != "." {
		base = path.Base(name)
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/zip")
	hd.Set("Content-Disposition", attachment(base+".zip"))
	if r.Method == http.MethodHead {
		return
	}
	zw := zip.NewWriter(w)
	if err := addDir(zw, root, name, base); err != nil {
		// Headers are gone: all we can do is cut the archive short, which
		// the client sees as a broken download.
		panic(http.ErrAbortHandler)
	}
	if err := zw.Close(); err != nil {
		return
	}
	h.downloaded()
}

// addDir adds the regular files of dir (recursively, dot files left out)
// under prefix. Symlinks are followed only to regular files inside the
// root, so a link cannot make the walk loop.
func addDir(zw *zip.Writer, root *os.Root, dir, prefix string) error {
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	if _, err := zw.CreateHeader(&zip.FileHeader{Name: prefix + "/", Method: zip.Store, Modified: time.Now()}); err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := path.Join(dir, e.Name())
		switch t := e.Type(); {
		case t.IsDir():
			if err := addDir(zw, root, p, prefix+"/"+e.Name()); err != nil {
				return err
			}
		case t.IsRegular() || t&fs.ModeSymlink != 0:
			if err := addFile(zw, root, p, prefix+"/"+e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

func addFile(zw *zip.Writer, root *os.Root, name, as string) error {
	f, err := root.Open(name)
	if err != nil {
		return nil // a symlink out of the root, or gone: left out
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	hdr := &zip.FileHeader{Name: as, Method: zip.Store, Modified: fi.ModTime()}
	hdr.SetMode(0o644)
	fw, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	_, err = io.Copy(fw, f)
	return err
}

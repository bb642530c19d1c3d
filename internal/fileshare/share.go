package fileshare

import (
	"archive/zip"
	"fmt"
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
	var l *live
	if r.Method == http.MethodGet {
		l = h.hist.begin(KindDownload, name, fi.Size())
	}
	complete := false
	defer func() { l.end(complete) }() // also when ServeContent panics
	cw := &countingWriter{ResponseWriter: w, l: l}
	// With the zero time, ServeContent sends no Last-Modified.
	var mtime time.Time
	if h.cfg.FileTimes {
		mtime = fi.ModTime().UTC()
	}
	http.ServeContent(cw, r, fi.Name(), mtime, f)
	if st := cw.status(); st != http.StatusOK && st != http.StatusPartialContent {
		l.drop() // not modified, range not satisfiable: no transfer
		return
	}
	if complete = r.Method == http.MethodGet && reachedEnd(cw, fi.Size()); complete {
		h.counts.add(zipped{name: name, fi: fi})
		h.downloaded(r)
	}
}

// reachedEnd reports whether a response wrote a file of size to its last
// byte: all of it (200), or a single range that ends there (206, as a
// resumed download asks). Several ranges in one answer count as none.
func reachedEnd(cw *countingWriter, size int64) bool {
	if cw.status() == http.StatusOK {
		return cw.n == size
	}
	var first, last, total int64
	cr := cw.Header().Get("Content-Range")
	if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &first, &last, &total); err != nil {
		return false
	}
	return total == size && last == size-1 && cw.n == last-first+1
}

// attachment is a Content-Disposition that makes a download of name (or
// a download without a name, if the header cannot carry it).
func attachment(name string) string {
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
		return v
	}
	return "attachment"
}

// countingWriter counts the body bytes written (into l as well, when
// set), keeping sendfile (through ReadFrom) available.
type countingWriter struct {
	http.ResponseWriter
	code int
	n    int64
	l    *live
}

// progressStep is how many bytes a sendfile copies before the progress
// of its transfer is updated.
const progressStep = 256 << 10

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
	c.l.add(int64(n))
	return n, err
}

func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	rf, ok := c.ResponseWriter.(io.ReaderFrom)
	if !ok {
		n, err := io.Copy(struct{ io.Writer }{c.ResponseWriter}, r)
		c.n += n
		c.l.add(n)
		return n, err
	}
	lr, ok := r.(*io.LimitedReader) // what ServeContent gives: part of the file
	if !ok {
		n, err := rf.ReadFrom(r)
		c.n += n
		c.l.add(n)
		return n, err
	}
	// Step by step, each step still a sendfile of the file itself.
	var total int64
	for lr.N > 0 {
		step := min(lr.N, progressStep)
		n, err := rf.ReadFrom(&io.LimitedReader{R: lr.R, N: step})
		lr.N -= n
		total += n
		c.n += n
		c.l.add(n)
		if err != nil || n < step {
			return total, err
		}
	}
	return total, nil
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
	l := h.hist.begin(KindDownload, base+".zip", -1)
	complete := false
	defer func() { l.end(complete) }() // also after the panic below
	cw := &countingWriter{ResponseWriter: w, l: l}
	zw := zip.NewWriter(cw)
	z := zipper{zw: zw, root: root, fileTimes: h.cfg.FileTimes, added: &[]zipped{}}
	if err := z.addDir(name, base); err != nil {
		// Headers are gone: all we can do is cut the archive short, which
		// the client sees as a broken download.
		panic(http.ErrAbortHandler)
	}
	if err := zw.Close(); err != nil {
		return
	}
	complete = true
	h.counts.add(*z.added...)
	h.downloaded(r)
}

// FixedTime is the time of every zip entry when the host does not serve
// file times (Config.FileTimes off).
var FixedTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// zipper writes the files of a root into a zip archive.
type zipper struct {
	zw        *zip.Writer
	root      *os.Root
	fileTimes bool
	added     *[]zipped // the files written whole, for their counts
}

// zipped is a file downloaded whole (alone or in an archive): its path
// in the shared folder and the version written.
type zipped struct {
	name string
	fi   fs.FileInfo
}

// modified is the time an entry carries: FixedTime, or with file times
// on, the file's own time in UTC. archive/zip writes Modified both as an
// extended (Unix, UTC) timestamp and in the legacy MS-DOS field, as
// wall-clock time in Modified's own location: in UTC, the two agree and
// the host's time zone shows nowhere.
func (z zipper) modified(fi fs.FileInfo) time.Time {
	if !z.fileTimes {
		return FixedTime
	}
	return fi.ModTime().UTC()
}

// addDir adds the regular files of dir (recursively; only names the
// listing shows, see listed) under prefix. Symlinks are followed only to
// regular files inside the root, so a link cannot make the walk loop.
func (z zipper) addDir(dir, prefix string) error {
	d, err := z.root.Open(dir)
	if err != nil {
		return err
	}
	fi, err := d.Stat()
	if err != nil {
		d.Close()
		return err
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	if _, err := z.zw.CreateHeader(&zip.FileHeader{Name: prefix + "/", Method: zip.Store, Modified: z.modified(fi)}); err != nil {
		return err
	}
	for _, e := range entries {
		if !listed(e.Name()) {
			continue
		}
		p := path.Join(dir, e.Name())
		switch t := e.Type(); {
		case t.IsDir():
			if err := z.addDir(p, prefix+"/"+e.Name()); err != nil {
				return err
			}
		case t.IsRegular() || t&fs.ModeSymlink != 0:
			if err := z.addFile(p, prefix+"/"+e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

func (z zipper) addFile(name, as string) error {
	f, err := z.root.Open(name)
	if err != nil {
		return nil // a symlink out of the root, or gone: left out
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	hdr := &zip.FileHeader{Name: as, Method: zip.Store, Modified: z.modified(fi)}
	hdr.SetMode(0o644)
	fw, err := z.zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	n, err := io.Copy(fw, f)
	if err == nil && n == fi.Size() && z.added != nil {
		*z.added = append(*z.added, zipped{name: name, fi: fi})
	}
	return err
}

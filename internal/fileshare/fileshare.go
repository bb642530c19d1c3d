// Package fileshare is the backend of the built-in `fileshare` service, an
// OnionShare-like file exchange served by the daemon itself: in share mode
// it lists one folder and serves its files (with Range support) and its
// subfolders as zip archives streamed on the fly; in receive mode it takes
// uploads into another folder. It is plain net/http and archive/zip.
//
// Every path a client names goes through CleanPath and is then opened
// through an os.Root, so neither `..` (plain or percent-encoded), nor a
// backslash, nor a symlink pointing out of the folder ever leaves it. Dot
// files are neither listed nor served. Nothing is buffered whole in
// memory: files and archives are streamed, uploads go to a temporary file
// in the received folder and are linked into place (never overwriting an
// existing file). No client address is logged.
package fileshare

import (
	"archive/zip"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"tails-server/internal/localhttp"
)

// Modes of the service, the values of Config.Mode.
const (
	ModeShare   = "share"   // list and serve the shared folder
	ModeReceive = "receive" // take uploads into the received folder
	ModeBoth    = "both"    // both of the above
)

// Config is what a Handler serves.
type Config struct {
	// Mode is ModeShare, ModeReceive or ModeBoth.
	Mode string
	// SharedDir is the folder whose files are shared (an absolute path).
	SharedDir string
	// ReceivedDir is the folder uploads land in (an absolute path).
	ReceivedDir string
	// MaxUpload is the largest file an upload may hold, in bytes; a
	// request may carry at most MaxUpload plus 1 MiB of form overhead.
	// Zero or less means 1 GiB.
	MaxUpload int64
	// AutoStop ends the share after the first complete download of a
	// file or an archive: from then on every request is refused, and
	// OnAutoStop is called once, in a goroutine of its own.
	AutoStop   bool
	OnAutoStop func()
}

func (c Config) shares() bool   { return c.Mode == ModeShare || c.Mode == ModeBoth }
func (c Config) receives() bool { return c.Mode == ModeReceive || c.Mode == ModeBoth }

// formOverhead is what a multipart request may carry besides the file.
const formOverhead = 1 << 20

// Handler is the fileshare HTTP handler.
type Handler struct {
	cfg     Config
	stopped atomic.Bool
	once    sync.Once
}

// NewHandler checks cfg, creates the folders it names if missing, and
// returns its handler.
func NewHandler(cfg Config) (*Handler, error) {
	switch cfg.Mode {
	case ModeShare, ModeReceive, ModeBoth:
	default:
		return nil, fmt.Errorf("fileshare: unknown mode %q (want share, receive or both)", cfg.Mode)
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = 1 << 30
	}
	if !filepath.IsAbs(cfg.SharedDir) || !filepath.IsAbs(cfg.ReceivedDir) {
		return nil, errors.New("fileshare: the shared and received folders must be absolute paths")
	}
	s, r := filepath.Clean(cfg.SharedDir), filepath.Clean(cfg.ReceivedDir)
	if cfg.Mode == ModeBoth && (within(s, r) || within(r, s)) {
		return nil, errors.New("fileshare: in mode both, the shared and received folders must not contain one another (uploads would be offered to everyone)")
	}
	if err := os.MkdirAll(cfg.SharedDir, 0o755); err != nil {
		return nil, fmt.Errorf("fileshare: %w", err)
	}
	if err := os.MkdirAll(cfg.ReceivedDir, 0o700); err != nil {
		return nil, fmt.Errorf("fileshare: %w", err)
	}
	return &Handler{cfg: cfg}, nil
}

// within reports whether p is dir or inside it.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
}

// Stopped reports whether the share ended after its first download.
func (h *Handler) Stopped() bool { return h.stopped.Load() }

// CleanPath turns the decoded path of a URL, below its route prefix, into
// a slash-separated path relative to the served folder ("." for the
// folder itself). It refuses, rather than repairs, anything suspicious: a
// segment starting with a dot (so "..", "." and dot files), a backslash,
// a NUL or other control character, or invalid UTF-8. Empty segments
// (from "//" or a trailing "/") are dropped. The result always satisfies
// fs.ValidPath and filepath.IsLocal; os.Root still guards against
// symlinks.
func CleanPath(p string) (string, error) {
	if !utf8.ValidString(p) {
		return "", errors.New("path is not valid UTF-8")
	}
	var parts []string
	for _, seg := range strings.Split(p, "/") {
		if seg == "" {
			continue
		}
		if strings.HasPrefix(seg, ".") {
			return "", fmt.Errorf("path segment %q starts with a dot", seg)
		}
		for _, c := range seg {
			if c == '\\' || unicode.IsControl(c) {
				return "", fmt.Errorf("path segment %q holds a forbidden character", seg)
			}
		}
		parts = append(parts, seg)
	}
	if len(parts) == 0 {
		return ".", nil
	}
	return strings.Join(parts, "/"), nil
}

// ServeHTTP routes: / (the page), /files/PATH (a file, or a folder's
// listing), /zip/PATH (a folder as a zip archive), POST /upload, and
// /style.css.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	if h.stopped.Load() {
		http.Error(w, "This share has ended.", http.StatusServiceUnavailable)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/upload":
		if !h.cfg.receives() {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.upload(w, r)
		return
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	case p == "/style.css":
		hd.Set("Content-Type", "text/css; charset=utf-8")
		http.ServeContent(w, r, "style.css", time.Time{}, strings.NewReader(styleCSS))
	case p == "/":
		h.page(w, r, ".")
	case p == "/files" || strings.HasPrefix(p, "/files/"):
		if !h.cfg.shares() {
			http.NotFound(w, r)
			return
		}
		h.file(w, r, strings.TrimPrefix(p, "/files"))
	case p == "/zip" || strings.HasPrefix(p, "/zip/"):
		if !h.cfg.shares() {
			http.NotFound(w, r)
			return
		}
		h.zip(w, r, strings.TrimPrefix(p, "/zip"))
	default:
		http.NotFound(w, r)
	}
}

// downloaded ends the share after a complete download, if asked.
func (h *Handler) downloaded() {
	if !h.cfg.AutoStop {
		return
	}
	h.once.Do(func() {
		h.stopped.Store(true)
		if h.cfg.OnAutoStop != nil {
			go h.cfg.OnAutoStop()
		}
	})
}

// openShared cleans a requested path and opens the shared folder as an
// os.Root, or answers the request itself (404 for a refused path) and
// returns ok false.
func (h *Handler) openShared(w http.ResponseWriter, r *http.Request, raw string) (root *os.Root, name string, ok bool) {
	name, err := CleanPath(raw)
	if err != nil {
		http.NotFound(w, r)
		return nil, "", false
	}
	if root, ok = h.openRoot(w, h.cfg.SharedDir); !ok {
		return nil, "", false
	}
	return root, name, true
}

// openRoot opens dir as an os.Root, or answers 500 and returns ok false.
func (h *Handler) openRoot(w http.ResponseWriter, dir string) (*os.Root, bool) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		http.Error(w, "shared folder unavailable", http.StatusInternalServerError)
		return nil, false
	}
	return root, true
}

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

// upload stores the files of a multipart form in the received folder.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request) {
	limit := h.cfg.MaxUpload
	if r.ContentLength > limit+formOverhead {
		http.Error(w, fmt.Sprintf("Too large: the limit is %s.", humanSize(limit)), http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit+formOverhead)
	mr, err := r.MultipartReader()
	if err != nil {
		http.Error(w, "expected a multipart/form-data upload", http.StatusBadRequest)
		return
	}
	root, err := os.OpenRoot(h.cfg.ReceivedDir)
	if err != nil {
		http.Error(w, "received folder unavailable", http.StatusInternalServerError)
		return
	}
	defer root.Close()
	var saved []string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			uploadError(w, err, limit)
			return
		}
		if part.FormName() != "file" || part.FileName() == "" {
			part.Close()
			continue
		}
		name, err := receive(root, part, SanitizeName(part.FileName()), limit)
		part.Close()
		if err != nil {
			uploadError(w, err, limit)
			return
		}
		saved = append(saved, name)
	}
	if len(saved) == 0 {
		http.Error(w, "no file in the upload (the form field is \"file\")", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	pages.ExecuteTemplate(w, "uploaded", saved)
}

// errTooLarge is a file over the limit.
var errTooLarge = errors.New("file too large")

func uploadError(w http.ResponseWriter, err error, limit int64) {
	var mbe *http.MaxBytesError
	if errors.Is(err, errTooLarge) || errors.As(err, &mbe) {
		http.Error(w, fmt.Sprintf("Too large: the limit is %s.", humanSize(limit)), http.StatusRequestEntityTooLarge)
		return
	}
	http.Error(w, "the upload failed", http.StatusBadRequest)
}

// receive writes one file to a temporary file in the received folder,
// syncs it and links it to a free name (name, then "name (1).ext", ...),
// so that an existing file is never replaced and a file is either whole
// under its name or absent. The temporary file never stays behind.
func receive(root *os.Root, src io.Reader, name string, limit int64) (string, error) {
	var rb [8]byte
	rand.Read(rb[:])
	tmp := ".upload-" + hex.EncodeToString(rb[:]) + ".part"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	defer root.Remove(tmp)
	n, err := io.Copy(f, io.LimitReader(src, limit+1))
	if err == nil && n > limit {
		err = errTooLarge
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	for i := 0; i < 10000; i++ {
		final := name
		if i > 0 {
			final = fmt.Sprintf("%s (%d)%s", stem, i, ext)
		}
		err := root.Link(tmp, final)
		if err == nil {
			if d, err := root.Open("."); err == nil {
				d.Sync()
				d.Close()
			}
			return final, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", errors.New("no free name for the upload")
}

// maxNameBytes bounds a received file's name (ext4 allows 255).
const maxNameBytes = 200

// SanitizeName reduces a client's file name to a plain base name: the
// part after the last slash or backslash, without control characters,
// leading dots or surrounding spaces, at most 200 bytes (the extension
// kept); "upload" if nothing is left.
func SanitizeName(n string) string {
	n = strings.ToValidUTF8(n, "")
	if i := strings.LastIndexAny(n, `/\`); i >= 0 {
		n = n[i+1:]
	}
	n = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, n)
	n = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(n), "."))
	if len(n) > maxNameBytes {
		ext := path.Ext(n)
		if len(ext) > 20 {
			ext = ""
		}
		stem := n[:maxNameBytes-len(ext)]
		for !utf8.ValidString(stem) {
			stem = stem[:len(stem)-1]
		}
		n = stem + ext
	}
	if n == "" {
		return "upload"
	}
	return n
}

// entry is one line of a listing.
type entry struct {
	Name, Href, Zip, Size string
	Dir                   bool
}

type pageData struct {
	Title   string
	Share   bool
	Receive bool
	Dir     string // "." for the shared folder
	Up      string // link to the parent listing, if any
	Zip     string
	Entries []entry
	Limit   string
}

// page shows the listing of dir (in share mode) and the upload form (in
// receive mode).
func (h *Handler) page(w http.ResponseWriter, r *http.Request, dir string) {
	d := pageData{Title: "Shared files", Share: h.cfg.shares(), Receive: h.cfg.receives() && dir == ".",
		Dir: dir, Limit: humanSize(h.cfg.MaxUpload)}
	if !d.Share {
		d.Title = "Send files"
	}
	if d.Share {
		root, ok := h.openRoot(w, h.cfg.SharedDir)
		if !ok {
			return
		}
		defer root.Close()
		entries, err := list(root, dir)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		d.Entries = entries
		d.Zip = hrefZip(dir)
		if dir != "." {
			d.Title = "Shared files: " + dir
			d.Up = hrefFiles(path.Dir(dir), true)
			if path.Dir(dir) == "." {
				d.Up = "/"
			}
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.Method == http.MethodHead {
		return
	}
	pages.ExecuteTemplate(w, "page", d)
}

// list returns the visible entries of dir: no dot files, and symlinks
// only when they resolve inside the root.
func list(root *os.Root, dir string) ([]entry, error) {
	d, err := root.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	des, err := d.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	var out []entry
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") {
			continue
		}
		if _, err := CleanPath(de.Name()); err != nil {
			continue // a name no URL of ours can reach
		}
		p := path.Join(dir, de.Name())
		fi, err := root.Stat(p)
		if err != nil {
			continue
		}
		e := entry{Name: de.Name(), Dir: fi.IsDir()}
		switch {
		case fi.IsDir():
			e.Href, e.Zip = hrefFiles(p, true), hrefZip(p)
		case fi.Mode().IsRegular():
			e.Href, e.Size = hrefFiles(p, false), humanSize(fi.Size())
		default:
			continue
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Dir != out[j].Dir {
			return out[i].Dir
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func escapePath(p string) string {
	if p == "." {
		return ""
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func hrefFiles(p string, dir bool) string {
	h := "/files/" + escapePath(p)
	if dir && p != "." {
		h += "/"
	}
	return h
}

func hrefZip(p string) string { return "/zip/" + escapePath(p) }

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

const styleCSS = `body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#241f31;background:#fff}
a{color:#56347c}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd}
td.size{text-align:right;white-space:nowrap}
form{margin-top:2rem;padding:1rem;border:1px solid #ccc;border-radius:.3rem}
button{margin-top:.5rem;padding:.4rem 1rem}
`

var pages = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{if .Share}}
{{if .Up}}<p><a href="{{.Up}}">Up one folder</a></p>{{end}}
{{if .Entries}}
<p><a href="{{.Zip}}" download>Download everything here as a zip file</a></p>
<table>
<caption>Files and folders</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col">Zip</th></tr></thead>
<tbody>
{{range .Entries}}<tr><td><a href="{{.Href}}">{{.Name}}{{if .Dir}}/{{end}}</a></td><td class="size">{{if .Dir}}folder{{else}}{{.Size}}{{end}}</td><td>{{if .Dir}}<a href="{{.Zip}}" download>zip</a>{{end}}</td></tr>
{{end}}</tbody>
</table>
{{else}}
<p>Nothing is shared here yet.</p>
{{end}}
{{end}}
{{if .Receive}}
<form method="post" action="/upload" enctype="multipart/form-data">
<h2>Send files</h2>
<p><label for="file">Files to send (at most {{.Limit}} each)</label><br>
<input type="file" id="file" name="file" multiple required></p>
<button type="submit">Send</button>
</form>
{{end}}
</main>
</body>
</html>
{{define "uploaded"}}<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sent</title><link rel="stylesheet" href="/style.css"></head>
<body><main><h1>Sent</h1><p>The host received:</p><ul>{{range .}}<li>{{.}}</li>{{end}}</ul><p><a href="/">Back</a></p></main></body>
</html>
{{end}}`))

// Server serves a Handler on one address.
type Server struct {
	*Handler
	*localhttp.Server
}

// Start serves cfg on addr (for example "127.0.0.1:0").
func Start(cfg Config, addr string) (*Server, error) {
	h, err := NewHandler(cfg)
	if err != nil {
		return nil, err
	}
	srv, err := localhttp.Listen(addr, h)
	if err != nil {
		return nil, err
	}
	return &Server{Handler: h, Server: srv}, nil
}

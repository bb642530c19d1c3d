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
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// Messages lets visitors send a text message with or without files
	// (in a mode that receives), kept in MessagesDir: an absolute path
	// outside both folders whose parent only root may write (see
	// MessageStore). MessagesDir is needed when Messages is on. At most
	// MaxMessages are kept; zero or less means 1000 (MaxMessages).
	Messages    bool
	MessagesDir string
	MaxMessages int
	// MaxUpload is the largest file an upload may hold, in bytes; a
	// request may carry at most MaxUpload plus 1 MiB of form overhead.
	// Zero or less means 1 GiB.
	MaxUpload int64
	// MaxReceived bounds the bytes the received folder may hold, uploads
	// under way included; an upload that would go over is refused (507)
	// and nothing of it stays. Zero or less means 4 GiB. Uploads are also
	// refused when they would leave the folder's filesystem less free
	// space than 10 % of its size or 64 MiB, whichever is more.
	MaxReceived int64
	// MaxUploads bounds the uploads under way at once; one more is
	// answered 503 with Retry-After. Zero or less means 4.
	MaxUploads int
	// UploadIdleTimeout ends an upload whose client sent nothing for that
	// long, UploadTimeout one that is not finished after that long: the
	// connection is closed and nothing of the upload stays. Zero or less
	// means 1 minute and 6 hours.
	UploadIdleTimeout time.Duration
	UploadTimeout     time.Duration
	// FileTimes serves the shared files' modification times (in UTC) as
	// Last-Modified and in zip entries. Off, no Last-Modified is sent and
	// every zip entry carries the same fixed time, so that visitors learn
	// nothing of when the host made or changed a file.
	FileTimes bool
	// AutoStop ends the share after the first complete download of a
	// file or an archive: from then on every request is refused, and
	// OnAutoStop is called once, in a goroutine of its own, when the
	// download that ended it has drained (drain.go).
	AutoStop   bool
	OnAutoStop func()
	// MaxDownloads, when more than 0, ends the share the same way after
	// that many complete downloads of the share since the handler
	// started: each file download and each zip archive counts once,
	// whichever file it is (AutoStop is MaxDownloads 1).
	MaxDownloads int
	// DrainTimeout bounds the wait, after the download that ends the
	// share, for its connection to close before OnAutoStop is called;
	// zero or less means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// CountsFile, when set, is where the download counts of the shared
	// files are kept across restarts (counts.go): an absolute path
	// outside the shared folder.
	CountsFile string
	// History, when set, is where the transfers are recorded; else the
	// handler keeps its own (see Handler.History).
	History *History
}

func (c Config) shares() bool   { return c.Mode == ModeShare || c.Mode == ModeBoth }
func (c Config) receives() bool { return c.Mode == ModeReceive || c.Mode == ModeBoth }

// formOverhead is what a multipart request may carry besides the file.
const formOverhead = 1 << 20

// Handler is the fileshare HTTP handler.
type Handler struct {
	cfg     Config
	quota   *quota
	uploads chan struct{} // a semaphore: one token per upload under way
	stopped atomic.Bool
	once    sync.Once

	counts         *counts
	hist           *History
	shareDownloads atomic.Int64
	conns          conns
	drained        atomic.Pointer[Drain]
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
	if cfg.MaxReceived <= 0 {
		cfg.MaxReceived = 4 << 30
	}
	if cfg.MaxUploads <= 0 {
		cfg.MaxUploads = 4
	}
	if cfg.UploadIdleTimeout <= 0 {
		cfg.UploadIdleTimeout = time.Minute
	}
	if cfg.UploadTimeout <= 0 {
		cfg.UploadTimeout = 6 * time.Hour
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
	if err := startMessages(&cfg); err != nil {
		return nil, err
	}
	// Uploads cut short by a kill of the daemon left their .part files.
	if err := removeStaleParts(cfg.ReceivedDir); err != nil {
		return nil, fmt.Errorf("fileshare: removing unfinished uploads: %w", err)
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.CountsFile != "" && (!filepath.IsAbs(cfg.CountsFile) || within(s, cfg.CountsFile)) {
		return nil, errors.New("fileshare: the download counts file must be an absolute path outside the shared folder")
	}
	// Counts that cannot be read back start again from zero: they are
	// no reason to refuse to share.
	c, _ := loadCounts(cfg.CountsFile, cfg.SharedDir)
	hist := cfg.History
	if hist == nil {
		hist = NewHistory(0)
	}
	return &Handler{cfg: cfg, quota: &quota{dir: cfg.ReceivedDir, limit: cfg.MaxReceived, statfs: fsSpace},
		uploads: make(chan struct{}, cfg.MaxUploads), counts: c, hist: hist}, nil
}

// within reports whether p is dir or inside it.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
}

// Stopped reports whether the share ended after its last allowed
// download.
func (h *Handler) Stopped() bool { return h.stopped.Load() }

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
		h.recordUpload(w, r, h.upload)
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

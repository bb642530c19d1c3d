package gui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"tails-server/internal/apitype"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are the page templates, each a clone of the layout.
var pages = map[string]*template.Template{}

// staticETag is a hash per embedded asset, for caching.
var staticETag = map[string]string{}

func init() {
	funcs := template.FuncMap{
		"ago":     ago,
		"clock":   func(t time.Time) string { return t.Local().Format("2006-01-02 15:04") },
		"qr":      qrSVG,
		"health":  healthSVG,
		"uptime":  uptimeText,
		"deref":   func(b *bool) bool { return b != nil && *b },
		"lines":   func(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") },
		"fileURL": fileURL,
		"size":    apitype.SizeText,
		"deref64": func(n *int64) int64 {
			if n == nil {
				return 0
			}
			return *n
		},
		"utc":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"moveForm": moveForm, // export.go
	}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	names, _ := fs.Glob(templateFS, "templates/*.html")
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t := template.Must(template.Must(layout.Clone()).ParseFS(templateFS, n))
		pages[strings.TrimSuffix(base, ".html")] = t
	}
	files, _ := fs.Glob(staticFS, "static/*")
	for _, f := range files {
		b, _ := staticFS.ReadFile(f)
		sum := sha256.Sum256(b)
		staticETag[path.Base(f)] = `"` + hex.EncodeToString(sum[:8]) + `"`
	}
}

// view is one page: its template, title, data and live parts.
type view struct {
	tmpl  string
	title string
	nav   string
	data  any
	// live names the fragments ("live-NAME" templates) refreshed over
	// server-sent events.
	live []string
	// refresh, without JavaScript, reloads the page every few seconds
	// (while a service starts).
	refresh bool
	// enter goes on to the list of services at once (after login).
	enter bool
}

// frag is a rendered live fragment.
type frag struct {
	ID   string
	Hash string
	HTML template.HTML
}

// pageData is what every page template gets.
type pageData struct {
	Title   string
	Nav     string
	CSRF    string
	Flash   []string
	Events  string // the page's event stream, "" for none
	Refresh bool
	Enter   bool
	Frags   map[string]frag
	D       any
	Authed  bool
}

// Frag returns a rendered live fragment for the page template.
func (p *pageData) Frag(name string) frag { return p.Frags[name] }

// frags renders v's live fragments.
func frags(t *template.Template, p *pageData, names []string) (map[string]frag, error) {
	out := map[string]frag{}
	for _, n := range names {
		var b bytes.Buffer
		if err := t.ExecuteTemplate(&b, "live-"+n, p); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b.Bytes())
		out[n] = frag{ID: "live-" + n, Hash: hex.EncodeToString(sum[:8]), HTML: template.HTML(b.String())}
	}
	return out, nil
}

func (s *Server) pageData(r *http.Request, v *view) *pageData {
	p := &pageData{Title: v.title, Nav: v.nav, D: v.data, Refresh: v.refresh, Enter: v.enter}
	if ss := sessionFrom(r); ss != nil {
		p.Authed = true
		p.CSRF = ss.csrf
		if r.Method == http.MethodGet {
			p.Flash = s.takeFlash(ss)
		}
		if len(v.live) > 0 {
			p.Events = "/events" + r.URL.Path
		}
	}
	return p
}

func (s *Server) execPage(w io.Writer, r *http.Request, v *view) error {
	t, ok := pages[v.tmpl]
	if !ok {
		return fmt.Errorf("no template %q", v.tmpl)
	}
	p := s.pageData(r, v)
	var err error
	if p.Frags, err = frags(t, p, v.live); err != nil {
		return err
	}
	return t.ExecuteTemplate(w, "layout.html", p)
}

// static serves an embedded asset.
func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		h.Set("Content-Type", ct)
	}
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", staticETag[name])
	if r.Header.Get("If-None-Match") == staticETag[name] {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(b)
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, &view{tmpl: "login", title: "Log in", data: msg})
}

type errorData struct {
	Status int
	Msg    string
	Hint   string
	Back   string
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, ss *session, status int, msg, hint string) {
	back := r.Header.Get("Referer") // usually absent (no-referrer); fall back on the list
	if back == "" {
		back = "/"
	}
	s.render(w, r, status, &view{tmpl: "error", title: "Something went wrong", data: errorData{status, msg, hint, back}})
}

// ago says how long ago t was, roughly.
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return t.Local().Format("2006-01-02")
}

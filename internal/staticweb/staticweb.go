// Package staticweb is the backend of the built-in `web` service: a static
// file server for one directory, listening on loopback only. It is plain
// net/http: no directory listings, no dot files, no symlinks out of the
// root, and no client address in any log (onion clients all come from
// 127.0.0.1 anyway, and we keep it that way). Visitors learn nothing of
// the host: no file times unless the host asks (Options.FileTimes), and
// the welcome page names no local path.
package staticweb

import (
	"bytes"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"tails-server/internal/localhttp"
)

// Server serves one directory over HTTP on a loopback address.
type Server struct {
	*localhttp.Server
	root string
	opts Options
}

// Options are the choices of the host.
type Options struct {
	// FileTimes sends each file's modification time (in UTC) as
	// Last-Modified. Off, no Last-Modified is sent, so that visitors do
	// not learn when the host made or changed a file.
	FileTimes bool
}

// Start serves root on addr (for example "127.0.0.1:0" for a free port)
// with the default options.
func Start(root, addr string) (*Server, error) { return Serve(root, addr, Options{}) }

// Serve serves root on addr with opts.
func Serve(root, addr string, opts Options) (*Server, error) {
	s := &Server{root: root, opts: opts}
	var err error
	if s.Server, err = localhttp.Listen(addr, s); err != nil {
		return nil, err
	}
	return s, nil
}

// ServeHTTP serves files from the root, refusing anything that leaves it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	root, err := os.OpenRoot(s.root)
	if err != nil {
		http.Error(w, "document root unavailable", http.StatusInternalServerError)
		return
	}
	defer root.Close()
	name := strings.TrimPrefix(filepath.Clean("/"+r.URL.Path), "/")
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") {
			http.NotFound(w, r)
			return
		}
	}
	if name == "" {
		name = "."
	}
	fi, err := root.Stat(name)
	if err == nil && fi.IsDir() {
		name = filepath.Join(name, "index.html")
		fi, err = root.Stat(name)
	}
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	// os.Root refuses symlinks that lead out of the root.
	f, err := root.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	// With the zero time, ServeContent sends no Last-Modified.
	var mtime time.Time
	if s.opts.FileTimes {
		mtime = fi.ModTime().UTC()
	}
	http.ServeContent(w, r, fi.Name(), mtime, f)
}

var welcome = template.Must(template.New("welcome").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#241f31}</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>This page is served by tails-server from its host's own machine, reachable only as a Tor onion service.</p>
<p>{{.Replace}}</p>
</body>
</html>
`))

// replaceLine is what the welcome page says about replacing it. It names
// no local path: a path would show a user name when the state is under a
// home, and the volatile root's name, the same for every service of one
// daemon, would link them.
const replaceLine = "The host can replace this page with the site's own files."

// oldReplaceLine is that line in welcome pages written before, which
// named the web folder's path.
var oldReplaceLine = regexp.MustCompile(`<p>The host can replace it: put files in <code>[^<]*</code>\.</p>`)

// IsWelcome reports whether b is a welcome page WriteWelcome wrote (of
// this version or an older one), which the site's own index.html may
// replace.
func IsWelcome(b []byte) bool {
	return bytes.Contains(b, []byte("<p>This page is served by tails-server from its host's own machine")) &&
		(bytes.Contains(b, []byte("<p>"+template.HTMLEscapeString(replaceLine)+"</p>")) || oldReplaceLine.Match(b))
}

// WriteWelcome creates dir with a welcome page as index.html, unless the
// directory already has one. A welcome page of an older version, which
// named the folder's local path, loses that line.
func WriteWelcome(dir, title string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p := filepath.Join(dir, "index.html")
	if b, err := os.ReadFile(p); err == nil {
		if oldReplaceLine.Match(b) && bytes.Contains(b, []byte("This page is served by tails-server")) {
			return atomicWrite(p, oldReplaceLine.ReplaceAll(b, []byte("<p>"+replaceLine+"</p>")))
		}
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var b strings.Builder
	if err := welcome.Execute(&b, struct{ Title, Replace string }{title, replaceLine}); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(b.String()), 0o644)
}

// atomicWrite replaces p with b, never leaving it half-written.
func atomicWrite(p string, b []byte) error {
	tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".tmp") // a dot file: never served
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

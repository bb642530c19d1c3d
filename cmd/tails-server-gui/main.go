// Command tails-server-gui shows tails-server's GUI in a window of its own,
// a WebKitGTK view (Debian's libwebkit2gtk-4.1-0), for the person at the
// desktop. It opens no TCP port and holds no token: the view loads
// tails-server://gui/PATH, a URI scheme this program registers and serves
// by asking the daemon's API socket (/api/v1/gui/window/PATH). The daemon
// knows who asks by the socket's peer credentials (SO_PEERCRED): root and
// the members of the tails-server group may connect; each window process
// gets a GUI session of its own, whose CSRF token its forms carry like a
// browser's do. So it works on Tails, where the desktop user may reach
// only listed loopback ports and the Tor Browser cannot reach 127.0.0.1.
// A user the socket refuses gets an error page naming the fix.
//
// The view's web context is ephemeral (nothing of a page, such as a
// client's credentials, is cached on disk), it navigates only within
// tails-server: and opens no other window. Answers are streamed to the
// view through a pipe as they come, so the GUI's live event streams work
// too; a redirect of a form is followed with a refresh to its target. A
// download (download.go) is fetched by the window and saved where the
// user picks.
//
// It is cgo with WebKitGTK's C API directly rather than a Go binding
// module: it needs a dozen calls (the scheme, its request and response,
// a few signals), which the C API gives as they are documented, while the
// Go GTK bindings on the module proxy are for GTK applications at large,
// lag WebKitGTK 4.1's scheme request API, and would be a large dependency
// of cgo code for a few calls. It is built on its own (make gui-window)
// so that tails-server stays static and without cgo.
//
// Test flags: --report-loads prints each finished load (milliseconds
// since start, URI, window title) and each new window title, --script runs JavaScript in the first
// page loaded, --exit-after-loads quits after that many loads, --save-dir
// saves downloads there without the save dialog.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"runtime"
	"runtime/cgo"
	"strings"
	"time"
	"unsafe"

	"tails-server/internal/client"
)

// #include <stdint.h>
// #include <webkit2/webkit2.h>
import "C"

// maxBody bounds a request body the view sends (a form, an upload).
const maxBody = 64 << 20

// requestTimeout bounds one request to the daemon, up to its headers.
const requestTimeout = 60 * time.Second

var (
	api        *client.Client
	start      = time.Now()
	reportLoad bool
	script     string
	exitAfter  int
	loads      int
	saveDir    string
	// scriptRunning holds off quitting until the script's result is in.
	scriptRunning, quitting bool
)

func init() { runtime.LockOSThread() } // GTK runs on the main thread

func main() {
	fs := flag.NewFlagSet("tails-server-gui", flag.ContinueOnError)
	socket := fs.String("socket", "", "API socket (default $TAILS_SERVER_SOCKET or "+client.DefaultSocket+")")
	path := fs.String("open", "/", "GUI page to open first")
	version := fs.Bool("version", false, "print the version and exit (checks that WebKitGTK loads)")
	fs.BoolVar(&reportLoad, "report-loads", false, "test: print each finished load")
	fs.StringVar(&script, "script", "", "test: JavaScript to run in the first page loaded")
	fs.IntVar(&exitAfter, "exit-after-loads", 0, "test: quit after this many finished loads")
	fs.StringVar(&saveDir, "save-dir", "", "test: save downloads into this directory, without asking")
	width := fs.Int("width", 1024, "window width")
	height := fs.Int("height", 720, "window height")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if *version {
		fmt.Printf("tails-server-gui (WebKitGTK %d.%d.%d)\n", C.webkit_get_major_version(), C.webkit_get_minor_version(), C.webkit_get_micro_version())
		return
	}
	if !strings.HasPrefix(*path, "/") || strings.HasPrefix(*path, "//") || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "tails-server-gui: --open takes a GUI path such as /services/web, and there are no arguments")
		os.Exit(2)
	}
	if !gtkInit() {
		fmt.Fprintln(os.Stderr, "tails-server-gui: cannot open the display (DISPLAY or WAYLAND_DISPLAY): run it in a desktop session, or open the GUI in a browser with `tails-server gui --browser`")
		os.Exit(1)
	}
	api = client.New(client.SocketPath(*socket))
	openWindow("tails-server://gui"+*path, *width, *height)
	gtkMain()
}

// answer is the daemon's answer (or the window's own error page), ready
// for the main thread to hand to the view.
type answer struct {
	r       *request
	status  int
	ctype   string
	headers []string
	body    io.ReadCloser
}

//export goSchemeRequest
func goSchemeRequest(req *C.WebKitURISchemeRequest) {
	r := readRequest(req)
	if mt, _, _ := mime.ParseMediaType(r.ctype); mt == "multipart/form-data" {
		// WebKitGTK 2.50 crashes reading the body of a form with a
		// file through a custom scheme: refused, never read.
		r.upload = true
		go func() {
			a := serve(r)
			a.r = r
			onMain(func() { finish(a) })
		}()
		return
	}
	pending[req] = r
	readBody(req)
}

// pending are the requests whose body is being read (main thread only).
var pending = map[*C.WebKitURISchemeRequest]*request{}

//export goBody
func goBody(req *C.WebKitURISchemeRequest, data unsafe.Pointer, n C.gssize) {
	r := pending[req]
	delete(pending, req)
	r.setBody(data, n)
	go func() {
		a := serve(r)
		a.r = r
		onMain(func() { finish(a) })
	}()
}

//export goFinish
func goFinish(h C.uintptr_t) {
	ch := cgo.Handle(h)
	fn := ch.Value().(func())
	ch.Delete()
	fn()
}

// finish hands an answer to the view, on the main thread.
func finish(a *answer) {
	reason := http.StatusText(a.status)
	if reason == "" {
		reason = "Status"
	}
	f, err := a.r.respond(a.status, reason, a.ctype, a.headers)
	if err != nil {
		a.body.Close()
		fmt.Fprintln(os.Stderr, "tails-server-gui:", err)
		return
	}
	go func() {
		io.Copy(f, a.body) // ends early when the view stops reading
		f.Close()
		a.body.Close()
	}()
}

// passed are the daemon's answer headers the view gets.
var passed = []string{"Content-Security-Policy", "Content-Disposition", "Cache-Control", "X-Content-Type-Options"}

// serve asks the daemon for the view's request.
func serve(r *request) *answer {
	u, err := url.Parse(r.uri)
	if err != nil || u.Host != "gui" {
		return page(http.StatusNotFound, "There is no such page.", "This window shows only Tails Server's own pages.")
	}
	if r.upload {
		return page(http.StatusNotImplemented, "Files cannot be sent from this window yet.",
			"Add them with \"tails-server files add\", or open the GUI in a browser with \"tails-server gui --browser\".")
	}
	if r.tooBig {
		return page(http.StatusRequestEntityTooLarge, "What you sent is too large.", fmt.Sprintf("Send at most %d MiB at once.", maxBody>>20))
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	var body io.Reader
	if r.body != nil {
		body = strings.NewReader(string(r.body))
	}
	resp, err := api.Window(ctx, r.method, p, r.ctype, body)
	if err != nil {
		cancel()
		return failure(err)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		resp.Body.Close()
		cancel()
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
			loc = "/"
		}
		// A refresh, not a redirect, so that the view's address is the
		// page shown and a reload does not send the form again.
		return &answer{status: http.StatusOK, ctype: "text/html; charset=utf-8",
			body: io.NopCloser(strings.NewReader(`<!doctype html><meta http-equiv="refresh" content="0; url=` + html.EscapeString(loc) + `"><title>Tails Server</title>`))}
	}
	a := &answer{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: cancelBody{resp.Body, cancel}}
	if a.ctype == "" {
		a.ctype = "application/octet-stream"
	}
	// The view wants the MIME type alone (a "; charset=" after it would
	// not be text/css to it); the whole header gives the charset.
	if mt, _, err := mime.ParseMediaType(a.ctype); err == nil {
		a.headers = append(a.headers, "Content-Type", a.ctype)
		a.ctype = mt
	}
	for _, h := range passed {
		if v := resp.Header.Get(h); v != "" && !strings.ContainsAny(v, "\r\n") {
			a.headers = append(a.headers, h, v)
		}
	}
	return a
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelBody) Close() error { b.cancel(); return b.ReadCloser.Close() }

// failure is the window's error page when the daemon cannot be asked.
func failure(err error) *answer {
	var pe *client.PermissionError
	var nr *client.NotRunningError
	var ue *client.UntrustedError
	switch {
	case errors.As(err, &pe):
		name := "YOUR-USER"
		if u, uerr := user.Current(); uerr == nil {
			name = u.Username
		}
		group := pe.Group
		if group == "" {
			group = "tails-server"
		}
		return page(http.StatusForbidden, "You may not use Tails Server: "+pe.Error()+".",
			"Ask the administrator of this computer to run \"sudo adduser "+name+" "+group+"\", then log out and back in.")
	case errors.As(err, &ue):
		return page(http.StatusForbidden, capital(ue.Error())+".", "Point TAILS_SERVER_SOCKET (or --socket) at the root daemon's socket ("+client.DefaultSocket+").")
	case errors.As(err, &nr):
		return page(http.StatusBadGateway, capital(nr.Error())+".", "Start tails-server's daemon (sudo systemctl start tails-server), then reload this page.")
	}
	return page(http.StatusBadGateway, capital(err.Error())+".", "Reload this page; if it happens again, look at the daemon's log.")
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// page is an error page of the window itself, without the daemon.
func page(status int, msg, hint string) *answer {
	b := `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tails Server: something went wrong</title></head>` +
		`<body style="font-family:sans-serif;max-width:40em;margin:3em auto"><h1>Something went wrong</h1>` +
		`<p id="error">` + html.EscapeString(msg) + `</p><p id="hint">` + html.EscapeString(hint) + `</p></body></html>`
	return &answer{status: status, ctype: "text/html; charset=utf-8", headers: []string{"Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"},
		body: io.NopCloser(strings.NewReader(b))}
}

//export goLoadFinished
func goLoadFinished(uri, title *C.char) {
	loads++
	if reportLoad {
		fmt.Printf("loaded %dms uri=%s title=%q\n", time.Since(start).Milliseconds(), C.GoString(uri), C.GoString(title))
	}
	if loads == 1 && script != "" {
		scriptRunning = true
		runScript(script)
	}
	if exitAfter > 0 && loads >= exitAfter {
		quitting = true
		if !scriptRunning {
			gtkQuit()
		}
	}
}

//export goTitle
func goTitle(title *C.char) {
	if reportLoad {
		fmt.Printf("title %dms %q\n", time.Since(start).Milliseconds(), C.GoString(title))
	}
}

//export goScriptDone
func goScriptDone(result *C.char) {
	if reportLoad {
		fmt.Printf("script %q\n", C.GoString(result))
	}
	scriptRunning = false
	if quitting {
		gtkQuit()
	}
}

//export goClosed
func goClosed() { gtkQuit() }

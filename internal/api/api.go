// Package api is the daemon's local HTTP/JSON API, served on a unix socket
// under /api/v1. It is the only way into the daemon: the CLI and the GUI
// are its clients. Every handler checks its method first (through the
// mux's method patterns); requests carrying Origin or Referer, or a Host
// other than apitype.Host, are refused, so that no web page can drive it.
//
// Who may call it is the socket's business (root and the members of the
// daemon's group, by the socket file's mode); who called is the kernel's
// (the connection's peer credentials, SO_PEERCRED, put in every request's
// context by NewServer's ConnContext). A request without them is refused.
// Every change is logged with the caller's uid (never with a secret), and
// with the uid the daemon's own GUI acted for (apitype.CallerHeader, believed
// only from the daemon's own process).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/peercred"
	"tails-server/internal/services"
)

// Daemon is what the API needs of the daemon.
type Daemon interface {
	Status() apitype.Daemon
	Services() *services.Manager
	Settings(ctx context.Context) (apitype.Settings, error)
	SetSetting(ctx context.Context, name, value string) (apitype.Settings, error)
}

// GUIDaemon is what a daemon with a web GUI offers: a fresh one-time login
// token for uid, the caller. Holding the API socket is the authority to
// ask for one.
type GUIDaemon interface {
	GUILogin(uid int) (apitype.GUILogin, error)
}

// MetricsDaemon gives the daemon's metrics in the Prometheus text
// format, with onion addresses only when withAddresses.
type MetricsDaemon interface {
	Metrics(ctx context.Context, withAddresses bool) ([]byte, error)
}

// IconDaemon gives a service's SVG icon from its description.
type IconDaemon interface {
	Icon(name string) ([]byte, bool)
}

// NewServer returns the API's HTTP server, to Serve on the daemon's unix
// socket: each request's context carries its connection's peer
// credentials.
func NewServer(d Daemon, log *slog.Logger) *http.Server {
	return &http.Server{Handler: Handler(d, log), ReadHeaderTimeout: 10 * time.Second, ConnContext: peercred.ConnContext}
}

// Caller is who made a request: the peer at the socket, and, for the
// daemon's own GUI, the uid of the session it acts for (ForUID, -1 when
// none).
type Caller struct {
	Peer   peercred.Cred
	ForUID int
}

// UID is the uid the request is made for: the GUI session's, or the
// peer's.
func (c Caller) UID() int {
	if c.ForUID >= 0 {
		return c.ForUID
	}
	return c.Peer.UID
}

type callerKey struct{}

// CallerOf returns who made r (set by the API's guard).
func CallerOf(r *http.Request) (Caller, bool) {
	c, ok := r.Context().Value(callerKey{}).(Caller)
	return c, ok
}

// Handler returns the API's handler. Its requests' contexts must carry
// peer credentials (peercred.NewContext; NewServer does it).
func Handler(d Daemon, log *slog.Logger) http.Handler {
	h := &handler{d: d, log: log}
	mux := http.NewServeMux()
	for _, r := range []struct {
		pattern string
		fn      func(http.ResponseWriter, *http.Request) (any, error)
	}{
		{"GET /daemon", h.daemon},
		{"GET /metrics", h.metrics},
		{"GET /settings", h.settings},
		{"PUT /settings/{name}", h.setSetting},
		{"GET /services", h.list},
		{"GET /services/{name}", h.info},
		{"POST /services/{name}/enable", h.enable},
		{"POST /services/{name}/disable", h.disable},
		{"GET /services/{name}/clients", h.clients},
		{"POST /services/{name}/clients", h.addClient},
		{"GET /services/{name}/clients/{client}", h.client},
		{"DELETE /services/{name}/clients/{client}", h.removeClient},
		{"GET /services/{name}/share", h.share},
		{"GET /services/{name}/transfers", h.transfers},
		{"GET /services/{name}/options/{option}", h.getOption},
		{"PUT /services/{name}/options/{option}", h.setOption},
		{"POST /services/{name}/remove", h.remove},
		{"GET /services/{name}/logs", h.logs},
		{"GET /services/{name}/icon", h.icon},
		{"GET /services/{name}/files", h.listFiles},
		{"POST /services/{name}/files", h.addFiles},
		{"DELETE /services/{name}/files", h.removeFiles},
		{"GET /services/{name}/file", h.getFile},
		{"GET /services/{name}/messages", h.listMessages},
		{"POST /services/{name}/export", h.exportService},
		{"POST /export", h.exportAll},
		{"POST /imports", h.startImport},
		{"POST /imports/{id}/apply", h.applyImport},
		{"DELETE /imports/{id}", h.cancelImport},
		{"DELETE /services/{name}/messages/{id}", h.deleteMessage},
		{"POST /gui/login", h.guiLogin},
		{"GET /isolation/policy", h.isolationPolicy},
		{"GET /isolation/audit", h.isolationAudit},
		{"GET /balance", h.balanceList}, {"POST /balance", h.balanceCreate}, {"GET /balance/{name}/status", h.balanceStatus}, {"POST /balance/{name}/instances", h.balanceAdd}, {"DELETE /balance/{name}/instances", h.balanceRemove}, {"DELETE /balance/{name}", h.balanceDelete}, // balance.go
		{"POST /isolation/run", h.isolationRun},
	} {
		mux.Handle(withPrefix(r.pattern), h.wrap(r.fn))
	}
	mux.HandleFunc(apitype.Version+windowPrefix, h.window)
	return h.guard(mux)
}

// statusOnly records the status the mux gives a request it has no handler
// for (404, or 405 with Allow), so that the answer can be JSON too.
type statusOnly struct {
	header http.Header
	status int
}

func (s *statusOnly) Header() http.Header         { return s.header }
func (s *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusOnly) WriteHeader(code int)        { s.status = code }

func withPrefix(pattern string) string {
	method, path, _ := strings.Cut(pattern, " ")
	return method + " " + apitype.Version + path
}

// errStreamed tells wrap that the handler wrote its answer itself.
var errStreamed = errors.New("streamed")

type handler struct {
	d   Daemon
	log *slog.Logger
}

// guard refuses browser-originated requests and foreign Host headers.
func (h *handler) guard(next *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" || r.Header.Get("Referer") != "" || r.Host != apitype.Host {
			writeError(w, http.StatusForbidden, "request refused: the local API takes no browser requests", "")
			return
		}
		cred, ok := peercred.FromContext(r.Context())
		if !ok {
			writeError(w, http.StatusForbidden, "request refused: the caller's credentials could not be read from the socket", "")
			return
		}
		c := Caller{Peer: cred, ForUID: -1}
		if v := r.Header.Get(apitype.CallerHeader); v != "" {
			uid, err := strconv.Atoi(v)
			if err != nil || uid < 0 || cred.PID != os.Getpid() {
				writeError(w, http.StatusForbidden, "request refused: "+apitype.CallerHeader+" is only for the daemon's own GUI", "")
				return
			}
			c.ForUID = uid
		}
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
		if mh, pattern := next.Handler(r); pattern == "" {
			rec := &statusOnly{header: http.Header{}, status: http.StatusNotFound}
			mh.ServeHTTP(rec, r)
			msg := "no such API endpoint: " + r.URL.Path
			if rec.status == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", rec.header.Get("Allow"))
				msg = r.Method + " not allowed on " + r.URL.Path
			}
			writeError(w, rec.status, msg, "")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *handler) wrap(fn func(http.ResponseWriter, *http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.logChange(r)
		}
		v, err := fn(w, r)
		if errors.Is(err, errStreamed) {
			return
		}
		if err != nil {
			var se *services.Error
			if errors.As(err, &se) {
				writeError(w, se.Status, se.Msg, se.Hint)
				return
			}
			h.log.Error("api", "method", r.Method, "path", r.URL.Path, "err", err)
			writeError(w, http.StatusInternalServerError, err.Error(), "")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	})
}

// logChange records who asked for a change: the caller's uid and pid, and
// the uid the GUI acted for. The path names the service, option or client;
// values and bodies, which may be secrets, are never logged.
func (h *handler) logChange(r *http.Request) {
	c, _ := CallerOf(r)
	args := []any{"method", r.Method, "path", r.URL.Path, "uid", c.Peer.UID, "pid", c.Peer.PID}
	if c.ForUID >= 0 {
		args = append(args, "gui_uid", c.ForUID)
	}
	h.log.Info("api change", args...)
}

func writeError(w http.ResponseWriter, status int, msg, hint string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(apitype.Error{Error: msg, Hint: hint})
}

// decode reads a small JSON body strictly.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) {
		return nil // no body: the zero request
	}
	if err == nil {
		// One JSON value, nothing after it: a second one is not ignored.
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = errors.New("text after the JSON value")
		}
	}
	if err != nil {
		return &services.Error{Status: http.StatusBadRequest, Msg: "malformed request body: " + err.Error()}
	}
	return nil
}

func (h *handler) daemon(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.d.Status(), nil
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.d.Services().List(), nil
}

func (h *handler) info(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	return h.d.Services().Info(r.PathValue("name"), q.Get("details") == "1", q.Get("show_secrets") == "1")
}

func (h *handler) enable(w http.ResponseWriter, r *http.Request) (any, error) {
	var req apitype.EnableRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Wait < 0 || req.Wait > time.Hour {
		return nil, &services.Error{Status: http.StatusBadRequest, Msg: "wait must be between 0 and 1h"}
	}
	if r.URL.Query().Get("stream") != "1" {
		return h.d.Services().Enable(r.Context(), r.PathValue("name"), req.Wait, req.OnionKey)
	}
	// Streamed: one JSON object per line, progress steps then the result.
	steps, stop, err := h.d.Services().Watch(r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	defer stop()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	fl, _ := w.(http.Flusher)
	type result struct {
		svc apitype.Service
		err error
	}
	done := make(chan result, 1)
	go func() {
		svc, err := h.d.Services().Enable(r.Context(), r.PathValue("name"), req.Wait, req.OnionKey)
		done <- result{svc, err}
	}()
	for {
		select {
		case p := <-steps:
			enc.Encode(apitype.EnableEvent{Progress: &p})
			if fl != nil {
				fl.Flush()
			}
		case res := <-done:
			for len(steps) > 0 {
				p := <-steps
				enc.Encode(apitype.EnableEvent{Progress: &p})
			}
			if res.err != nil {
				e := &apitype.Error{Error: res.err.Error()}
				var se *services.Error
				if errors.As(res.err, &se) {
					e.Hint = se.Hint
				}
				enc.Encode(apitype.EnableEvent{Error: e})
			} else {
				enc.Encode(apitype.EnableEvent{Service: &res.svc})
			}
			return nil, errStreamed
		}
	}
}

func (h *handler) disable(w http.ResponseWriter, r *http.Request) (any, error) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	return h.d.Services().Disable(ctx, r.PathValue("name"))
}

func (h *handler) clients(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.d.Services().Clients(r.PathValue("name"))
}

func (h *handler) client(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.d.Services().Client(r.PathValue("name"), r.PathValue("client"))
}

func (h *handler) addClient(w http.ResponseWriter, r *http.Request) (any, error) {
	var req apitype.ClientRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return h.d.Services().AddClient(r.Context(), r.PathValue("name"), req.Name)
}

func (h *handler) removeClient(w http.ResponseWriter, r *http.Request) (any, error) {
	err := h.d.Services().RemoveClient(r.Context(), r.PathValue("name"), r.PathValue("client"))
	return struct{}{}, err
}

func (h *handler) share(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.d.Services().Share(r.PathValue("name"), r.URL.Query().Get("client"))
}

// transfers lists a service's transfers under way and its history, for
// a progress bar that polls it.
func (h *handler) transfers(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.d.Services().Transfers(r.PathValue("name"))
}

func (h *handler) getOption(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.d.Services().GetOption(r.PathValue("name"), r.PathValue("option"), r.URL.Query().Get("show_secrets") == "1")
}

func (h *handler) setOption(w http.ResponseWriter, r *http.Request) (any, error) {
	var req apitype.SetOptionRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return h.d.Services().SetOption(r.Context(), r.PathValue("name"), r.PathValue("option"), req.Value)
}

// remove wipes a service and answers what went: what the service had
// just before.
func (h *handler) remove(w http.ResponseWriter, r *http.Request) (any, error) {
	name := r.PathValue("name")
	sv, err := h.d.Services().Info(name, true, false)
	if err != nil {
		return nil, err
	}
	out := apitype.RemoveResult{Service: name, OnionAddress: sv.OnionAddress, Clients: sv.Clients}
	if d := sv.Details; d != nil {
		if _, err := os.Stat(d.KeyFile); err == nil {
			out.OnionKey = d.KeyFile
		}
		if _, err := os.Stat(d.DataDir); err == nil {
			out.Dirs = append(out.Dirs, d.DataDir)
		}
	}
	if err := h.d.Services().Remove(r.Context(), name); err != nil {
		return nil, err
	}
	return out, nil
}

// logs answers the last lines as JSON, or with follow=1 streams new lines
// as text, one per line, until the client goes.
func (h *handler) logs(w http.ResponseWriter, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if r.URL.Query().Get("follow") != "1" {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		return h.d.Services().Logs(name, n)
	}
	ch, err := h.d.Services().Follow(r.Context(), name)
	if err != nil {
		return nil, err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	for line := range ch {
		if _, err := io.WriteString(w, line+"\n"); err != nil {
			break
		}
		if fl != nil {
			fl.Flush()
		}
	}
	return nil, errStreamed
}

func (h *handler) settings(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.d.Settings(r.Context())
}

func (h *handler) setSetting(w http.ResponseWriter, r *http.Request) (any, error) {
	var req apitype.SettingRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return h.d.SetSetting(r.Context(), r.PathValue("name"), req.Value)
}

func (h *handler) guiLogin(w http.ResponseWriter, r *http.Request) (any, error) {
	g, ok := h.d.(GUIDaemon)
	if !ok {
		return nil, &services.Error{Status: http.StatusNotFound, Msg: "this daemon serves no GUI", Hint: "start the daemon without --gui-listen off"}
	}
	c, _ := CallerOf(r)
	if c.ForUID >= 0 {
		return nil, &services.Error{Status: http.StatusForbidden, Msg: "a GUI session cannot mint GUI logins"}
	}
	return g.GUILogin(c.Peer.UID)
}

// icon answers a service's SVG icon, with a policy that keeps any script
// in it from running when opened on its own.
func (h *handler) icon(w http.ResponseWriter, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if _, err := h.d.Services().Info(name, false, false); err != nil {
		return nil, err
	}
	var svg []byte
	if id, ok := h.d.(IconDaemon); ok {
		svg, _ = id.Icon(name)
	}
	if len(svg) == 0 {
		return nil, &services.Error{Status: http.StatusNotFound, Msg: name + " has no icon"}
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	w.Write(svg)
	return nil, errStreamed
}

// metrics answers the Prometheus text, not JSON.
func (h *handler) metrics(w http.ResponseWriter, r *http.Request) (any, error) {
	md, ok := h.d.(MetricsDaemon)
	if !ok {
		return nil, &services.Error{Status: http.StatusNotFound, Msg: "this daemon serves no metrics"}
	}
	b, err := md.Metrics(r.Context(), r.URL.Query().Get("with_addresses") == "1")
	if err != nil {
		return nil, err
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(b)
	return nil, errStreamed
}

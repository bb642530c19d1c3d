package api

import (
	"net/http"
	"strings"

	"tails-server/internal/apitype"
)

// WindowDaemon is what a daemon with a GUI offers to a window program
// (tails-server-gui): a GUI request answered for the window process at the
// socket, whose uid and pid the kernel gave (SO_PEERCRED). Holding the API
// socket is the authority, as for every route: no token is involved.
type WindowDaemon interface {
	ServeWindow(w http.ResponseWriter, r *http.Request, uid, pid int)
}

// window hands /api/v1/gui/window/PATH, any method, to the daemon's GUI
// as the GUI request PATH, for the caller at the socket.
func (h *handler) window(w http.ResponseWriter, r *http.Request) {
	wd, ok := h.d.(WindowDaemon)
	if !ok {
		writeError(w, http.StatusNotFound, "this daemon serves no GUI", "")
		return
	}
	c, _ := CallerOf(r)
	if c.ForUID >= 0 {
		writeError(w, http.StatusForbidden, "the GUI cannot open windows of itself", "")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.logChange(r)
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + strings.TrimPrefix(r.URL.Path, apitype.Version+windowPrefix)
	r2.URL.RawPath = ""
	r2.RequestURI = ""
	wd.ServeWindow(w, r2, c.Peer.UID, c.Peer.PID)
}

// windowPrefix is the window route's path under apitype.Version.
const windowPrefix = "/gui/window/"

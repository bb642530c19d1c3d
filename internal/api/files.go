package api

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"tails-server/internal/apitype"
	"tails-server/internal/services"
)

// The files endpoints work on the folders of a service's own content
// (apitype.ContentFolder). The daemon never opens a path the person names:
// the client reads the person's files and streams them (add), and writes
// what it gets (get one file). Who changed what is logged, with the
// caller's uid and the names; never a file's content.

func (h *handler) listFiles(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	return h.d.Services().ListFiles(r.PathValue("name"), q.Get("folder"), q.Get("received") == "1")
}

// addFiles reads the body, a tar stream or a form's files, as it comes: it is never held
// whole in memory.
func (h *handler) addFiles(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	req := services.AddRequest{Service: r.PathValue("name"), Folder: q.Get("folder"), To: q.Get("to"), Replace: q.Get("replace") == "1"}
	// A form's files, as the GUI passes on what a browser posted, or a
	// tar stream (the CLI).
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		if params["boundary"] == "" {
			return nil, &services.Error{Status: http.StatusBadRequest, Msg: "a multipart/form-data body needs its boundary in Content-Type"}
		}
		req.Boundary = params["boundary"]
	}
	if v := r.Header.Get(apitype.FilesTotalHeader); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, &services.Error{Status: http.StatusBadRequest, Msg: apitype.FilesTotalHeader + " must be a number of bytes"}
		}
		req.Total = n
	}
	res, err := h.d.Services().AddFiles(r.Context(), req, r.Body)
	if err != nil {
		// What is left of a refused stream is not read: the connection
		// closes after the answer.
		w.Header().Set("Connection", "close")
		return nil, err
	}
	c, _ := CallerOf(r)
	h.log.Info("files added", "service", req.Service, "folder", res.Folder, "to", res.To, "names", logNames(res.Added),
		"files", res.Files, "bytes", res.Bytes, "replaced", len(res.Replaced), "uid", c.UID())
	return res, nil
}

func (h *handler) removeFiles(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	res, err := h.d.Services().RemoveFiles(r.PathValue("name"), q.Get("folder"), q.Get("received") == "1", q["name"])
	if err != nil {
		return nil, err
	}
	c, _ := CallerOf(r)
	h.log.Info("files removed", "service", res.Service, "folder", res.Folder, "names", logNames(res.Removed), "uid", c.UID())
	return res, nil
}

// getFile streams one file of a content folder (by default the first
// received one), with its length.
func (h *handler) getFile(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	f, err := h.d.Services().OpenFile(r.PathValue("name"), q.Get("folder"), q.Get("name"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	c, _ := CallerOf(r)
	h.log.Info("file read for saving", "service", r.PathValue("name"), "folder", q.Get("folder"), "name", q.Get("name"), "uid", c.UID())
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.Copy(w, f)
	}
	return nil, errStreamed
}

// logNames is what the log says of the names: a few, and how many more.
func logNames(names []string) string {
	if len(names) <= 5 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:5], ", "), len(names)-5)
}

package gui

import (
	"context"
	"crypto/subtle"
	"io"
	"net/http"
	"net/url"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
)

// Moving a service to another host, from its page (one service) or from
// Settings (everything): a form downloads the archive, which the daemon
// encrypts to the passphrase typed twice; an upload form sends an
// archive, whose preview (checked whole by the daemon, nothing changed
// yet) is shown with Apply and Cancel. As everywhere, through the API.

// moveFormView is what the "move" template (layout.html) draws: the
// download form to Export, the upload form to Import.
type moveFormView struct{ Title, Export, Import, Note, CSRF string }

func moveForm(title, export, imp, note, csrf string) moveFormView {
	return moveFormView{title, export, imp, note, csrf}
}

// exportService and exportAll answer the download form.
func (s *Server) exportService(w http.ResponseWriter, r *http.Request) {
	s.exportDownload(w, r, r.PathValue("name"))
}

func (s *Server) exportAll(w http.ResponseWriter, r *http.Request) { s.exportDownload(w, r, "") }

func (s *Server) exportDownload(w http.ResponseWriter, r *http.Request, name string) {
	ss := sessionFrom(r)
	p, _ := formValue(r, "passphrase")
	p2, _ := formValue(r, "passphrase2")
	back := "Go back and type the passphrase twice."
	if p == "" || p != p2 {
		s.errorPage(w, r, ss, http.StatusBadRequest, "The two passphrases are empty or differ, so no archive was made.", back)
		return
	}
	file := "tails-server-all.age"
	if name != "" {
		file = "tails-server-" + name + ".age"
	}
	dw := &downloadWriter{w: w, file: file}
	err := s.c.Export(client.WithCaller(r.Context(), ss.uid), name, apitype.ExportRequest{Passphrase: p}, dw)
	if err == nil {
		return
	}
	if !dw.started {
		s.apiError(w, r, err)
		return
	}
	// Part of the archive went out: cut the download, so that the
	// browser says it failed rather than keep half an archive.
	s.log.Warn("gui: export cut short", "err", err)
	panic(http.ErrAbortHandler)
}

// downloadWriter sends the download's headers with its first byte.
type downloadWriter struct {
	w       http.ResponseWriter
	file    string
	started bool
}

func (d *downloadWriter) Write(p []byte) (int, error) {
	if !d.started {
		d.started = true
		h := d.w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", `attachment; filename="`+d.file+`"`)
		d.w.WriteHeader(http.StatusOK)
	}
	return d.w.Write(p)
}

// importView is the preview page.
type importView struct {
	P    apitype.ImportPreview
	Back string
	// Replace: a service here has another key.
	Replace bool
}

// importUpload reads the upload form (csrf, passphrase, then the file,
// in that order) and passes the archive on to the daemon as it comes.
// Like the files upload, it is not an action: the token is the first
// field, read before anything else.
func (s *Server) importUpload(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name") // "" from Settings: everything
	ss := s.sessionOf(r)
	if ss == nil {
		s.loginPage(w, r, http.StatusForbidden, "You are not logged in, so nothing was imported.")
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ss))
	w.Header().Set("Cache-Control", "no-store")
	again := "Go back, reload the page and pick the archive again."
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+s.Addr() {
		s.errorPage(w, r, ss, http.StatusForbidden, "This form did not come from this page, so nothing was imported.", again)
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		s.errorPage(w, r, ss, http.StatusBadRequest, "The form could not be read.", again)
		return
	}
	field := func(want string, limit int64) (string, bool) {
		p, err := mr.NextPart()
		if err != nil || p.FormName() != want {
			return "", false
		}
		b, _ := io.ReadAll(io.LimitReader(p, limit))
		return string(b), true
	}
	tok, ok := field("csrf", 256)
	if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(ss.csrf)) != 1 {
		s.errorPage(w, r, ss, http.StatusForbidden, "This form did not come from this page (its security token is missing or wrong), so nothing was imported.", again)
		return
	}
	pass, ok := field("passphrase", 4096)
	if !ok || pass == "" {
		s.errorPage(w, r, ss, http.StatusBadRequest, "The form holds no passphrase, so nothing was imported.", again)
		return
	}
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "archive" {
		s.errorPage(w, r, ss, http.StatusBadRequest, "The form holds no archive.", again)
		return
	}
	pv, err := s.c.StartImport(client.WithCaller(r.Context(), ss.uid), apitype.ImportRequest{Passphrase: pass, As: name}, part)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	v := importView{P: pv, Back: "/settings"}
	if name != "" {
		v.Back = svcURL(name, "move")
	}
	for _, sv := range pv.Services {
		v.Replace = v.Replace || sv.Existing == "another key"
	}
	s.render(w, r, http.StatusOK, &view{tmpl: "import", title: "Import", nav: "settings", data: v})
}

func (s *Server) applyImport(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(client.WithCaller(r.Context(), sessionFrom(r).uid), 10*apiTimeout)
	defer cancel()
	replace, _ := formValue(r, "replace")
	res, err := s.c.ApplyImport(ctx, r.PathValue("id"), replace == "true")
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	to := "/"
	if len(res.Services) == 1 {
		to = "/services/" + url.PathEscape(res.Services[0])
	}
	s.redirect(w, r, to, "Imported, disabled: enable it here once the old host no longer publishes it (never both at once).")
}

func (s *Server) cancelImport(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := apiCtx(r)
	defer cancel()
	if err := s.c.CancelImport(ctx, r.PathValue("id")); err != nil {
		s.apiError(w, r, err)
		return
	}
	s.redirect(w, r, "/", "Import cancelled: nothing changed.")
}

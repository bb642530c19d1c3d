package gui

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
)

// The content of a service (its folders of files offered and received)
// on its page: the person picks files to add (<input type=file multiple>,
// posted as a form, passed on to the daemon as it comes, never held
// whole), sees each folder's files with their downloads, saves a
// received file to their browser, removes a file. Like every other page
// it goes through the daemon's API, for the session's uid.

// folderView is one content folder on a service page.
type folderView struct {
	apitype.ContentFolder
	Received bool
	Files    []fileView
	Err      string
}

// fileView is one file of a folder.
type fileView struct {
	Name      string
	Size      string
	Modified  time.Time
	Counted   bool // the backend counts downloads
	Downloads int64
}

// loadFolders lists every content folder of sv.
func (s *Server) loadFolders(ctx context.Context, sv apitype.Service) []folderView {
	var out []folderView
	for _, f := range sv.Content {
		fv := folderView{ContentFolder: f, Received: f.Kind == apitype.FolderReceived}
		l, err := s.c.ListFiles(ctx, sv.Name, client.FilesQuery{Folder: f.Name})
		if err != nil {
			_, fv.Err, _ = describe(err)
		}
		for _, fl := range l.Files {
			v := fileView{Name: fl.Name, Size: apitype.SizeText(fl.Size), Modified: fl.Modified}
			if fl.Downloads != nil {
				v.Counted, v.Downloads = true, *fl.Downloads
			}
			fv.Files = append(fv.Files, v)
		}
		out = append(out, fv)
	}
	return out
}

// fileURL is the address of a folder's action or file.
func fileURL(svc, folder, action string) string {
	u := "/services/" + url.PathEscape(svc) + "/files/" + url.PathEscape(folder)
	if action != "" {
		u += "/" + action
	}
	return u
}

// wantsJSON: the page's script posts the form itself (to show the
// upload's progress) and takes the answer as JSON.
func wantsJSON(r *http.Request) bool { return r.Header.Get("Accept") == "application/json" }

// uploadAnswer is the JSON answer to the script: where to go, or why not.
type uploadAnswer struct {
	Location string `json:"location,omitempty"`
	Error    string `json:"error,omitempty"`
	Hint     string `json:"hint,omitempty"`
}

// upload passes a form of files on to the daemon. It is not an action:
// a form of files is not read whole to check its CSRF token; the token
// is its first field, read before anything else, and the files follow as
// they come. Any other field than "csrf", "replace" and "file" refuses
// the form.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	name, folder := r.PathValue("name"), r.PathValue("folder")
	ss := s.sessionOf(r)
	if ss == nil {
		s.loginPage(w, r, http.StatusForbidden, "You are not logged in, so nothing was added.")
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ss))
	w.Header().Set("Cache-Control", "no-store")
	fail := func(status int, msg, hint string) {
		if wantsJSON(r) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(uploadAnswer{Error: msg, Hint: hint})
			return
		}
		s.errorPage(w, r, ss, status, msg, hint)
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+s.Addr() {
		fail(http.StatusForbidden, "This form did not come from this page, so nothing was added.", "Go back, reload the page and pick the files again.")
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		fail(http.StatusBadRequest, "The form could not be read: "+err.Error()+".", "Go back, reload the page and pick the files again.")
		return
	}
	p, err := mr.NextPart()
	if err != nil || p.FormName() != "csrf" {
		fail(http.StatusForbidden, "This form has no security token, so nothing was added.", "Go back, reload the page and pick the files again.")
		return
	}
	tok, _ := io.ReadAll(io.LimitReader(p, 256))
	if subtle.ConstantTimeCompare(tok, []byte(ss.csrf)) != 1 {
		fail(http.StatusForbidden, "This form did not come from this page (its security token is wrong), so nothing was added.", "Go back, reload the page and pick the files again.")
		return
	}
	// The fields before the files.
	replace := false
	for {
		if p, err = mr.NextPart(); err != nil {
			fail(http.StatusBadRequest, "The form holds no file.", "Pick one or more files, then press Add.")
			return
		}
		if p.FormName() != "replace" {
			break
		}
		v, _ := io.ReadAll(io.LimitReader(p, 16))
		replace = string(v) == "true"
	}

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	passed := make(chan struct{})
	go func() {
		defer close(passed)
		pw.CloseWithError(passFiles(mw, mr, p))
	}()
	ctx := client.WithCaller(r.Context(), ss.uid)
	total := r.ContentLength
	if total < 0 {
		total = 0
	}
	res, err := s.c.AddFiles(ctx, name, client.AddOptions{Folder: folder, Replace: replace, Total: total, ContentType: mw.FormDataContentType()}, pr)
	pr.CloseWithError(errors.New("the daemon answered"))
	<-passed
	if err != nil {
		var pe passError
		if errors.As(err, &pe) {
			fail(http.StatusBadRequest, capital(pe.Error())+".", "Go back, reload the page and pick the files again.")
			return
		}
		status, msg, hint := describe(err)
		fail(status, msg, hint)
		return
	}
	to := svcURL(name, "files-"+folder)
	s.addFlash(ss, addedText(res))
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(uploadAnswer{Location: to})
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// passError is a refusal of the form itself, found while passing it on.
type passError struct{ msg string }

func (e passError) Error() string { return e.msg }

// passFiles writes the form's files, from first on, to mw.
func passFiles(mw *multipart.Writer, mr *multipart.Reader, first *multipart.Part) error {
	for p := first; ; {
		if p.FormName() != "file" {
			return passError{fmt.Sprintf("the form has a field %q after its files", p.FormName())}
		}
		if p.FileName() != "" {
			out, err := mw.CreateFormFile("file", p.FileName())
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, p); err != nil {
				return err
			}
		}
		var err error
		if p, err = mr.NextPart(); err != nil {
			if errors.Is(err, io.EOF) {
				return mw.Close()
			}
			return err
		}
	}
}

// addedText is the flash message after an add.
func addedText(res apitype.AddResult) string {
	names := strings.Join(res.Added, ", ")
	if len(res.Added) > 5 {
		names = strings.Join(res.Added[:5], ", ") + fmt.Sprintf(" and %d more", len(res.Added)-5)
	}
	msg := fmt.Sprintf("Added %s (%s).", names, apitype.SizeText(res.Bytes))
	if len(res.Replaced) > 0 {
		msg += fmt.Sprintf(" %d replaced a file of the same name.", len(res.Replaced))
	}
	return msg
}

// removeFile removes one file of a folder.
func (s *Server) removeFile(w http.ResponseWriter, r *http.Request) {
	name, folder := r.PathValue("name"), r.PathValue("folder")
	file, _ := formValue(r, "file")
	ctx, cancel := apiCtx(r)
	defer cancel()
	if _, err := s.c.RemoveFiles(ctx, name, client.FilesQuery{Folder: folder}, []string{file}); err != nil {
		s.apiError(w, r, err)
		return
	}
	s.redirect(w, r, svcURL(name, "files-"+folder), fmt.Sprintf("Removed %s.", file))
}

// saveFile sends one file of a folder to the browser, as a download
// named like the file. The name passed apitype.CheckName in the daemon
// (no control character, no slash at its ends): its last element is the
// download's name, encoded by mime (RFC 2231) for any other character.
func (s *Server) saveFile(w http.ResponseWriter, r *http.Request) {
	name, folder, file := r.PathValue("name"), r.PathValue("folder"), r.URL.Query().Get("name")
	ctx := client.WithCaller(r.Context(), sessionFrom(r).uid)
	body, size, err := s.c.OpenFile(ctx, name, folder, file)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	defer body.Close()
	base := file[strings.LastIndex(file, "/")+1:]
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": base}))
	if size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	w.WriteHeader(http.StatusOK)
	io.Copy(w, body)
}

// messagesView is the visitors' messages of a service that takes them.
type messagesView struct {
	Accepting bool
	List      []apitype.Message
}

// loadMessages returns the messages of a service with a received folder
// that keeps them, nil for one that has none (or keeps none and takes
// none now).
func (s *Server) loadMessages(ctx context.Context, sv apitype.Service) *messagesView {
	received := false
	for _, f := range sv.Content {
		received = received || f.Kind == apitype.FolderReceived
	}
	if !received {
		return nil
	}
	l, err := s.c.ListMessages(ctx, sv.Name)
	if err != nil || (!l.Accepting && len(l.Messages) == 0) {
		// None, or none kept and the option off: nothing to show.
		return nil
	}
	return &messagesView{Accepting: l.Accepting, List: l.Messages}
}

// deleteMessage deletes one visitor's message.
func (s *Server) deleteMessage(w http.ResponseWriter, r *http.Request) {
	name, id := r.PathValue("name"), r.PathValue("id")
	ctx, cancel := apiCtx(r)
	defer cancel()
	if _, err := s.c.DeleteMessage(ctx, name, id); err != nil {
		s.apiError(w, r, err)
		return
	}
	s.redirect(w, r, svcURL(name, "messages"), "The message was deleted.")
}

// transfersView is a service's transfers: those under way with their
// progress, and the last finished ones.
type transfersView struct {
	Now, Done []transferView
}

type transferView struct {
	apitype.Transfer
	What    string // "Download of report.pdf", "Upload"
	Percent int    // -1: size not known
	Took    string
}

// maxShownTransfers is how many finished transfers the page lists.
const maxShownTransfers = 10

// loadTransfers returns the transfers of a service whose backend keeps
// them, nil for one without.
func (s *Server) loadTransfers(ctx context.Context, name string) *transfersView {
	tr, err := s.c.Transfers(ctx, name)
	if err != nil {
		return nil
	}
	view := func(t apitype.Transfer) transferView {
		v := transferView{Transfer: t, What: "Upload", Percent: -1}
		if t.Kind == apitype.TransferDownload {
			v.What = "Download of " + t.Name
		}
		if t.Size != nil && *t.Size > 0 {
			v.Percent = int(min(100, 100*t.Bytes / *t.Size))
		}
		if t.End != nil {
			v.Took = t.End.Sub(t.Start).Round(100 * time.Millisecond).String()
		}
		return v
	}
	out := &transfersView{}
	for _, t := range tr.InProgress {
		out.Now = append(out.Now, view(t))
	}
	for i, t := range tr.History {
		if i == maxShownTransfers {
			break
		}
		out.Done = append(out.Done, view(t))
	}
	return out
}

// timeLeft says how long until t, for a timer: "4 min 12 s".
func timeLeft(t time.Time) string {
	d := time.Until(t).Round(time.Second)
	if d <= 0 {
		return "now"
	}
	h, m, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%d h %d min", h, m)
	case m > 0:
		return fmt.Sprintf("%d min %d s", m, sec)
	}
	return fmt.Sprintf("%d s", sec)
}

package fileshare

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
	"time"
)

// upload stores the files of a multipart form in the received folder.
// A request is all or nothing: when one of its files fails (too large,
// over the quota, a refused name, a stalled or cut connection), the
// files it already stored are removed again.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request) {
	limit := h.cfg.MaxUpload
	if r.ContentLength > limit+formOverhead {
		http.Error(w, fmt.Sprintf("Too large: the limit is %s.", humanSize(limit)), http.StatusRequestEntityTooLarge)
		return
	}
	select {
	case h.uploads <- struct{}{}:
		defer func() { <-h.uploads }()
	default:
		w.Header().Set("Retry-After", "60")
		http.Error(w, "Too many uploads at once: try again in a minute.", http.StatusServiceUnavailable)
		return
	}
	if err := h.quota.begin(); err != nil {
		http.Error(w, "received folder unavailable", http.StatusInternalServerError)
		return
	}
	defer h.quota.end()
	if r.ContentLength > formOverhead {
		// The file alone is at least this long: refuse it before reading it.
		if err := h.quota.room(r.ContentLength - formOverhead); err != nil {
			uploadError(w, err, limit)
			return
		}
	}
	rc := http.NewResponseController(w)
	r.Body = http.MaxBytesReader(w, &deadlineReader{r: r.Body, rc: rc, idle: h.cfg.UploadIdleTimeout,
		end: time.Now().Add(h.cfg.UploadTimeout)}, limit+formOverhead)
	// What is left of the body after the answer, net/http reads too:
	// within the idle timeout.
	defer func() { rc.SetReadDeadline(time.Now().Add(h.cfg.UploadIdleTimeout)) }()
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
	var sizes []int64
	var text string // the message, if any
	gotText := false
	fail := func(err error) {
		for i, n := range saved {
			if root.Remove(n) == nil {
				h.quota.drop(sizes[i])
			}
		}
		uploadError(w, err, limit)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail(err)
			return
		}
		if part.FormName() == messageField && part.FileName() == "" {
			if gotText {
				err = errMessageTwice
			} else {
				text, err = h.readMessage(part)
			}
			gotText = true
			part.Close()
			if err != nil {
				fail(err)
				return
			}
			continue
		}
		if part.FormName() != "file" || part.FileName() == "" {
			part.Close()
			continue
		}
		name, err := SanitizeName(part.FileName())
		var size int64
		if err == nil {
			name, size, err = receive(root, h.quota, part, name, limit)
		}
		part.Close()
		if err != nil {
			fail(err)
			return
		}
		saved, sizes = append(saved, name), append(sizes, size)
	}
	if len(saved) == 0 && text == "" {
		msg := "no file in the upload (the form field is \"file\")"
		if h.cfg.Messages {
			msg = "Nothing to send: choose files, or write a message, or both."
		}
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	if text != "" {
		if _, err := h.msgs().Add(text, saved, time.Now()); err != nil {
			fail(err)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	pages.ExecuteTemplate(w, "uploaded", uploadedData{Files: saved, Message: text != ""})
}

// uploadedData is what the page after a post shows.
type uploadedData struct {
	Files   []string
	Message bool
}

// readMessage reads the message field of a post: "" for none (or white
// space only). With messages off, a message is refused; with the store
// full, too, before any file of the post is read.
func (h *Handler) readMessage(part io.Reader) (string, error) {
	raw, err := io.ReadAll(io.LimitReader(part, 2*MaxMessageBytes+1))
	if err != nil {
		return "", err
	}
	st := h.msgs()
	if !h.cfg.Messages || st == nil {
		if len(bytes.TrimSpace(raw)) > 0 {
			return "", errMessagesOff
		}
		return "", nil
	}
	text, err := CleanMessage(raw)
	if err != nil || text == "" {
		return "", err
	}
	return text, st.full()
}

// errTooLarge is a file over the limit; errStalled an upload whose
// client sent nothing for the idle timeout or did not finish within the
// total one.
var (
	errTooLarge = errors.New("file too large")
	errStalled  = errors.New("upload stalled")
)

func uploadError(w http.ResponseWriter, err error, limit int64) {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errTooLarge) || errors.As(err, &mbe):
		http.Error(w, fmt.Sprintf("Too large: the limit is %s.", humanSize(limit)), http.StatusRequestEntityTooLarge)
	case errors.Is(err, errQuota) || errors.Is(err, errNoSpace):
		http.Error(w, "Insufficient storage: the host cannot take more files now ("+err.Error()+"). Nothing of this upload was kept.",
			http.StatusInsufficientStorage)
	case errors.Is(err, errMessageTooLong):
		http.Error(w, fmt.Sprintf("Message too long: the limit is %d bytes. Shorten it and send again. Nothing of this post was kept.", MaxMessageBytes),
			http.StatusRequestEntityTooLarge)
	case errors.Is(err, errMessageBad), errors.Is(err, errMessageTwice):
		http.Error(w, "Message refused: "+err.Error()+". Nothing of this post was kept.", http.StatusBadRequest)
	case errors.Is(err, errMessagesOff):
		http.Error(w, "Message refused: this share takes files only, no messages. Nothing of this post was kept.", http.StatusBadRequest)
	case errors.Is(err, errMessagesFull):
		http.Error(w, "The host's message box is full ("+err.Error()+"): try again later. Nothing of this post was kept.",
			http.StatusInsufficientStorage)
	case errors.Is(err, ErrInvisibleName):
		http.Error(w, err.Error()+": rename the file and send it again. Nothing of this upload was kept.", http.StatusBadRequest)
	case errors.Is(err, errStalled):
		w.Header().Set("Connection", "close")
		http.Error(w, "The upload stalled. Nothing of it was kept.", http.StatusRequestTimeout)
	default:
		http.Error(w, "the upload failed", http.StatusBadRequest)
	}
}

// deadlineReader reads a request body within an idle timeout (renewed
// at each read) and a total one (end), so that a client that stops
// sending does not hold its connection and its .part file for ever.
type deadlineReader struct {
	r    io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	end  time.Time
}

func (d *deadlineReader) Close() error { return d.r.Close() }

func (d *deadlineReader) Read(b []byte) (int, error) {
	dl := time.Now().Add(d.idle)
	if dl.After(d.end) {
		dl = d.end
	}
	if !time.Now().Before(dl) {
		return 0, errStalled
	}
	// Not supported by test recorders: the reads are then unbounded.
	d.rc.SetReadDeadline(dl)
	n, err := d.r.Read(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = errStalled
	}
	return n, err
}

// receive writes one file to a temporary file in the received folder,
// syncs it and links it to a free name (name, then "name (1).ext", ...),
// so that an existing file is never replaced and a file is either whole
// under its name or absent. The temporary file never stays behind.
func receive(root *os.Root, q *quota, src io.Reader, name string, limit int64) (string, int64, error) {
	var rb [8]byte
	rand.Read(rb[:])
	tmp := partPrefix + hex.EncodeToString(rb[:]) + partSuffix
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", 0, err
	}
	defer root.Remove(tmp)
	qw := &quotaWriter{w: f, q: q}
	kept := false
	defer func() {
		if !kept {
			q.release(qw.taken)
		}
	}()
	n, err := io.Copy(qw, io.LimitReader(src, limit+1))
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
		return "", 0, err
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
			kept = true
			q.keep(qw.taken)
			return final, n, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", 0, err
		}
	}
	return "", 0, errors.New("no free name for the upload")
}

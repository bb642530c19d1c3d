package fileshare

import (
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
)

// upload stores the files of a multipart form in the received folder.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request) {
	limit := h.cfg.MaxUpload
	if r.ContentLength > limit+formOverhead {
		http.Error(w, fmt.Sprintf("Too large: the limit is %s.", humanSize(limit)), http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit+formOverhead)
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
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			uploadError(w, err, limit)
			return
		}
		if part.FormName() != "file" || part.FileName() == "" {
			part.Close()
			continue
		}
		name, err := receive(root, part, SanitizeName(part.FileName()), limit)
		part.Close()
		if err != nil {
			uploadError(w, err, limit)
			return
		}
		saved = append(saved, name)
	}
	if len(saved) == 0 {
		http.Error(w, "no file in the upload (the form field is \"file\")", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	pages.ExecuteTemplate(w, "uploaded", saved)
}

// errTooLarge is a file over the limit.
var errTooLarge = errors.New("file too large")

func uploadError(w http.ResponseWriter, err error, limit int64) {
	var mbe *http.MaxBytesError
	if errors.Is(err, errTooLarge) || errors.As(err, &mbe) {
		http.Error(w, fmt.Sprintf("Too large: the limit is %s.", humanSize(limit)), http.StatusRequestEntityTooLarge)
		return
	}
	http.Error(w, "the upload failed", http.StatusBadRequest)
}

// receive writes one file to a temporary file in the received folder,
// syncs it and links it to a free name (name, then "name (1).ext", ...),
// so that an existing file is never replaced and a file is either whole
// under its name or absent. The temporary file never stays behind.
func receive(root *os.Root, src io.Reader, name string, limit int64) (string, error) {
	var rb [8]byte
	rand.Read(rb[:])
	tmp := ".upload-" + hex.EncodeToString(rb[:]) + ".part"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	defer root.Remove(tmp)
	n, err := io.Copy(f, io.LimitReader(src, limit+1))
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
		return "", err
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
			return final, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", errors.New("no free name for the upload")
}

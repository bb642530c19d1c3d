package main

import "C"

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// A download of the view (a received file, a client's credential file):
// the window fetches it from the daemon, asks where to save it, and
// writes it there, mode 0600, atomically (a temporary file renamed).

//export goDownload
func goDownload(uri *C.char) {
	u := C.GoString(uri)
	go func() {
		name, body, err := fetchDownload(u)
		onMain(func() {
			if err != nil {
				saved("", err)
				return
			}
			dest := ""
			if saveDir != "" {
				dest = filepath.Join(saveDir, name)
			} else {
				dest = saveDialog(name)
			}
			if dest == "" {
				body.Close()
				return
			}
			go func() {
				err := saveFile(dest, body)
				onMain(func() { saved(dest, err) })
			}()
		})
	}()
}

// fetchDownload GETs uri from the daemon: the file's name (from its
// Content-Disposition) and its content.
func fetchDownload(uri string) (string, io.ReadCloser, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "tails-server" || u.Host != "gui" {
		return "", nil, fmt.Errorf("not a page of Tails Server: %s", uri)
	}
	p := u.EscapedPath()
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	resp, err := api.Window(context.Background(), http.MethodGet, p, "", nil)
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return "", nil, fmt.Errorf("the daemon answered %s", resp.Status)
	}
	name := path.Base(u.Path)
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil && params["filename"] != "" {
		name = filepath.Base(params["filename"])
	}
	if name == "" || name == "/" || strings.HasPrefix(name, ".") {
		name = "download"
	}
	return name, resp.Body, nil
}

// saveFile writes body to dest, mode 0600, through a temporary file in
// the same directory.
func saveFile(dest string, body io.ReadCloser) error {
	defer body.Close()
	f, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".*.part")
	if err != nil {
		return err
	}
	_, err = io.Copy(f, body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), dest)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// saved reports a download's end: to the test's output, and, failed, to
// the user.
func saved(dest string, err error) {
	if reportLoad {
		if err != nil {
			fmt.Printf("save-failed %q\n", err.Error())
		} else {
			fmt.Printf("saved %q\n", dest)
		}
	}
	if err != nil && saveDir == "" {
		alert("The file could not be saved: " + err.Error())
	}
}

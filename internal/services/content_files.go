package services

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"sort"
	"strings"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/safefs"
)

// MaxListedFiles bounds the files a list shows.
const MaxListedFiles = 10000

// ListFiles lists the regular files of a content folder (its first
// offered one when folder is "", its first received one when received),
// every level, by name: size, time (UTC) and, in an offered folder of a
// backend that counts them, the downloads so far. Names starting with a
// dot, which are never offered, and symlinks are not shown.
func (m *Manager) ListFiles(service, folder string, received bool) (apitype.FileList, error) {
	kind := catalog.ContentOffered
	if received {
		kind = catalog.ContentReceived
	}
	f, err := m.folder(service, folder, kind)
	if err != nil {
		return apitype.FileList{}, err
	}
	out := apitype.FileList{Service: service, Folder: f.def.Name, Kind: f.def.Kind, Files: []apitype.File{}}
	var counts map[string]int64
	if f.def.Kind == catalog.ContentOffered {
		counts = downloadCounts(f)
	}
	root, err := os.OpenRoot(f.abs())
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	defer root.Close()
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			return nil // gone meanwhile, or unreadable: not listed
		}
		if p == "." {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if len(out.Files) >= MaxListedFiles {
			return fs.SkipAll
		}
		file := apitype.File{Name: p, Size: fi.Size(), Modified: fi.ModTime().UTC()}
		if counts != nil {
			n := counts[p]
			file.Downloads = &n
		}
		out.Files = append(out.Files, file)
		return nil
	})
	sort.Slice(out.Files, func(i, j int) bool { return out.Files[i].Name < out.Files[j].Name })
	return out, err
}

// RemoveFiles removes files or folders (with what they hold) of a content
// folder. Every name is checked first: if one is bad or missing, nothing
// is removed.
func (m *Manager) RemoveFiles(service, folder string, received bool, names []string) (apitype.RemoveFilesResult, error) {
	kind := catalog.ContentOffered
	if received {
		kind = catalog.ContentReceived
	}
	res := apitype.RemoveFilesResult{Service: service, Removed: []string{}}
	f, err := m.folder(service, folder, kind)
	if err != nil {
		return res, err
	}
	res.Folder = f.def.Name
	if len(names) == 0 {
		return res, badRequest("name the files to remove")
	}
	root, err := os.OpenRoot(f.abs())
	if errors.Is(err, fs.ErrNotExist) {
		return res, notFound("no file %q in %s of %s", names[0], f.def.Name, service)
	}
	if err != nil {
		return res, err
	}
	defer root.Close()
	for _, n := range names {
		if err := apitype.CheckName(n); err != nil {
			return res, badRequest("%v", err)
		}
		if _, err := root.Lstat(n); err != nil {
			e := notFound("no file %q in %s of %s; nothing was removed", n, f.def.Name, service)
			e.Hint = fmt.Sprintf("`tails-server files list %s` shows its files", service)
			return res, e
		}
	}
	for _, n := range names {
		if err := root.RemoveAll(n); err != nil {
			return res, fmt.Errorf("removing %s: %w", n, err)
		}
		res.Removed = append(res.Removed, n)
	}
	return res, nil
}

// OpenFile opens one regular file of a content folder (by default the
// first received one) for reading, never through a symlink. The caller
// closes it.
func (m *Manager) OpenFile(service, folder, name string) (*os.File, error) {
	f, err := m.folder(service, folder, catalog.ContentReceived)
	if err != nil {
		return nil, err
	}
	if err := apitype.CheckName(name); err != nil {
		return nil, badRequest("%v", err)
	}
	file, err := safefs.OpenRegular(f.data, f.rel+"/"+name)
	if errors.Is(err, fs.ErrNotExist) {
		e := notFound("no file %q in %s of %s", name, f.def.Name, service)
		e.Hint = fmt.Sprintf("`tails-server files list %s --received` shows its files", service)
		return nil, e
	}
	if errors.Is(err, safefs.ErrNotRegular) {
		return nil, &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf("%q in %s of %s is not a regular file; only files can be saved", name, f.def.Name, service)}
	}
	return file, err
}

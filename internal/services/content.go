package services

import (
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
)

// The host's own content: the folders a service's description declares
// (catalog ContentFolder), which the files endpoints add to, list, remove
// from and read one file of. The daemon never opens a path the person
// names: the CLI reads their files and streams them (add), and writes what
// it gets (save). What the daemon opens is inside the service's data
// directory, through an os.Root or safefs (no symlink leads out), since a
// backend's user may write there.

// downloadCounter is what a backend that counts the complete downloads
// of its offered files implements (fileshare); the keys are paths inside
// the offered folder, slash-separated. A backend without it shows no
// count.
type downloadCounter interface{ Downloads() map[string]int64 }

// stagingPrefix starts the names of the folders an add writes to before
// it moves what it wrote into place: a dot name, so never listed nor
// served, and removed when the service starts again.
const stagingPrefix = ".tails-server-adding-"

func isStaging(name string) bool { return strings.HasPrefix(name, stagingPrefix) }

// folderRef is a resolved content folder of a service.
type folderRef struct {
	s    *service
	def  *catalog.ContentFolder
	data string // the service's data directory (its parents are root's)
	rel  string // the folder, relative to data, slash-separated
	// uid, gid own what is written there: the backend's user when the
	// service has one (a folder it serves), else -1 (the daemon's).
	uid, gid int
}

func (f *folderRef) abs() string { return filepath.Join(f.data, filepath.FromSlash(f.rel)) }

// contentFolders is what the API shows of a service's content folders.
func contentFolders(def *catalog.Service) []apitype.ContentFolder {
	var out []apitype.ContentFolder
	for _, c := range def.Content {
		out = append(out, apitype.ContentFolder{Name: c.Name, Title: c.Title, Kind: c.Kind})
	}
	return out
}

// folder resolves the content folder called name of a service, or its
// first of kind when name is empty.
func (m *Manager) folder(service, name, kind string) (*folderRef, error) {
	s, err := m.get(service)
	if err != nil {
		return nil, err
	}
	if len(s.def.Content) == 0 {
		return nil, &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf("%s has no folders of content", service),
			Hint: "the files verbs work on services that declare content, like fileshare and web"}
	}
	var c *catalog.ContentFolder
	var ok bool
	if name == "" {
		if c, ok = s.def.FirstFolder(kind); !ok {
			return nil, &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf("%s has no %s folder", service, kind),
				Hint: "its folders: " + folderNames(s.def)}
		}
	} else if c, ok = s.def.Folder(name); !ok {
		return nil, &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("%s has no folder %q", service, name),
			Hint: "its folders: " + folderNames(s.def)}
	}
	rel := c.Path
	if c.Option != "" {
		s.mu.Lock()
		rel = m.value(s, c.Option)
		s.mu.Unlock()
	}
	if err := apitype.CheckName(rel); err != nil || path.Clean(rel) != rel {
		return nil, &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("%s: the folder of %s is not a folder inside the service's data folder", service, c.Name),
			Hint: fmt.Sprintf("set option %s to a folder like %s", c.Option, c.Name)}
	}
	_, data := dirs(m.store, s.def.Name)
	f := &folderRef{s: s, def: c, data: data, rel: rel, uid: -1, gid: -1}
	f.uid, f.gid = contentOwner(s.def)
	return f, nil
}

func folderNames(def *catalog.Service) string {
	var n []string
	for _, c := range def.Content {
		n = append(n, c.Name+" ("+c.Kind+")")
	}
	return strings.Join(n, ", ")
}

// contentOwner returns who must own files written to the service's
// folders: its backend's user, when the daemon runs as root and the user
// exists (else -1, -1: the daemon's own; enabling the service gives its
// data directory to the user then).
func contentOwner(def *catalog.Service) (int, int) {
	if os.Geteuid() != 0 || def.Backend.User == "" {
		return -1, -1
	}
	u, err := user.Lookup(def.Backend.User)
	if err != nil {
		return -1, -1
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid
}

// openFolder opens the content folder as an os.Root, creating it (and the
// data directory) if missing. Nothing it opens leaves the data directory.
func (f *folderRef) openFolder() (*os.Root, error) {
	if err := os.MkdirAll(f.data, 0o750); err != nil {
		return nil, err
	}
	dr, err := os.OpenRoot(f.data)
	if err != nil {
		return nil, err
	}
	defer dr.Close()
	if err := dr.MkdirAll(f.rel, 0o755); err != nil {
		return nil, fmt.Errorf("creating the folder %s of %s: %w", f.def.Name, f.s.def.Name, err)
	}
	if f.uid >= 0 {
		// Each folder created on the way is the backend's, as the data
		// directory is.
		for p := f.rel; p != "." && p != ""; p = path.Dir(p) {
			if fi, err := dr.Lstat(p); err == nil && fi.Sys().(*syscall.Stat_t).Uid == 0 {
				dr.Lchown(p, f.uid, f.gid)
			}
		}
	}
	return dr.OpenRoot(f.rel)
}

// removeStaleStaging removes the staging folders adds cut short (by a kill
// of the daemon) left in the service's content folders; the service is
// starting, so none is in use but those of adds under way, which are kept.
func (m *Manager) removeStaleStaging(s *service) {
	for _, c := range s.def.Content {
		f, err := m.folder(s.def.Name, c.Name, "")
		if err != nil {
			continue
		}
		root, err := os.OpenRoot(f.abs())
		if err != nil {
			continue
		}
		// Anywhere in the folder: an add to a folder inside (--to)
		// stages there.
		var stale []string
		fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == "." || !d.IsDir() {
				return nil
			}
			if isStaging(d.Name()) && !m.adding(filepath.Join(f.abs(), filepath.FromSlash(p))) {
				stale = append(stale, p)
			}
			if strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		})
		for _, p := range stale {
			if err := root.RemoveAll(p); err != nil {
				m.log.Warn("removing an unfinished add", "service", s.def.Name, "folder", c.Name, "err", err)
			} else {
				m.log.Info("removed an unfinished add", "service", s.def.Name, "folder", c.Name)
			}
		}
		root.Close()
	}
}

// adding reports whether an add under way writes to the staging folder p.
func (m *Manager) adding(p string) bool {
	m.contentMu.Lock()
	defer m.contentMu.Unlock()
	return m.staging[p]
}

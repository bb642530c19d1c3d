package services

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/safefs"
	"tails-server/internal/staticweb"
)

// Limits of one add.
const (
	// MaxAddEntries bounds the files and folders of one add.
	MaxAddEntries = 100000
	// addReserveMax is the most free space an add leaves on the folder's
	// disk: it keeps 5 % of the disk's size free, at most this much.
	addReserveMax = 64 << 20
)

// AddRequest says where an add goes.
type AddRequest struct {
	Service string
	Folder  string // a content folder's name; "" the first offered one
	To      string // a folder inside it, "" its top
	Replace bool   // replace names that exist
	// Total is the size the client announced (0: none), checked against
	// the free space before anything is read.
	Total int64
	// Boundary, when set, says the body is not a tar stream but a
	// multipart/form-data one with this boundary, as a browser posts a
	// form's <input type=file multiple>: each part named "file" is a
	// file, named by its file name.
	Boundary string
}

// AddFiles reads a tar stream of files and folders (regular files and
// folders only, every name checked by apitype.CheckName), or a form's
// files (req.Boundary), into a staging
// folder inside the content folder, then moves each name at its top into
// place, all after every file is complete and synced. An add that is
// refused, cut off or fails leaves nothing: the staging folder goes. A
// name that exists is refused unless req.Replace (the web service's own
// welcome page is always replaced); of two adds of one name at once, the
// second to finish is refused.
func (m *Manager) AddFiles(ctx context.Context, req AddRequest, body io.Reader) (apitype.AddResult, error) {
	res := apitype.AddResult{Service: req.Service, To: req.To, Added: []string{}}
	f, err := m.folder(req.Service, req.Folder, catalog.ContentOffered)
	if err != nil {
		return res, err
	}
	res.Folder = f.def.Name
	if f.def.Kind != catalog.ContentOffered {
		return res, &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf("%s of %s is where visitors' files land; files are added to an offered folder", f.def.Name, req.Service),
			Hint: "its folders: " + folderNames(f.s.def)}
	}
	if req.To != "" {
		if err := apitype.CheckName(req.To); err != nil {
			return res, badRequest("--to: %v", err)
		}
	}
	root, err := f.openFolder()
	if err != nil {
		return res, err
	}
	defer root.Close()
	// The staging folder is in the folder the names go to, so that each
	// goes into place with a rename (the same filesystem).
	dest := "."
	if req.To != "" {
		dest = req.To
		if err := root.MkdirAll(req.To, 0o755); err != nil {
			return res, fmt.Errorf("creating %s: %w", req.To, err)
		}
		if f.uid >= 0 {
			for p := req.To; p != "."; p = path.Dir(p) {
				root.Lchown(p, f.uid, f.gid)
			}
		}
	}
	st := &staging{m: m, f: f, root: root, dest: dest, name: path.Join(dest, stagingPrefix+randomHex())}
	if err := st.create(); err != nil {
		return res, err
	}
	defer st.remove()
	if req.Total > 0 {
		if err := st.room(req.Total, "the files"); err != nil {
			return res, err
		}
	}
	tops, err := st.read(ctx, body, req, &res)
	if err != nil {
		return res, err
	}
	if len(tops) == 0 {
		return res, badRequest("nothing to add: the stream holds no file")
	}
	if err := st.commit(tops, req, &res); err != nil {
		return res, err
	}
	return res, nil
}

func badRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

func randomHex() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// staging is one add's staging folder, at the top of the content folder.
type staging struct {
	m    *Manager
	f    *folderRef
	root *os.Root // the content folder
	dest string   // the folder the names go to, in root
	name string   // the staging folder, in root (inside dest)
	dir  *os.Root // the staging folder
}

func (st *staging) create() error {
	if err := st.root.Mkdir(st.name, 0o700); err != nil {
		return err
	}
	st.m.contentMu.Lock()
	st.m.staging[filepath.Join(st.f.abs(), st.name)] = true
	st.m.contentMu.Unlock()
	d, err := st.root.OpenRoot(st.name)
	if err != nil {
		return err
	}
	st.dir = d
	return nil
}

// remove removes the staging folder and what is left in it.
func (st *staging) remove() {
	if st.dir != nil {
		st.dir.Close()
	}
	if err := st.root.RemoveAll(st.name); err != nil {
		st.m.log.Warn("removing an add's staging folder", "service", st.f.s.def.Name, "err", err)
	}
	st.m.contentMu.Lock()
	delete(st.m.staging, filepath.Join(st.f.abs(), st.name))
	st.m.contentMu.Unlock()
}

// room refuses a write of n bytes that would leave the folder's disk less
// free than its reserve.
func (st *staging) room(n int64, what string) error {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(filepath.Join(st.f.abs(), filepath.FromSlash(st.name)), &fs); err != nil {
		return err
	}
	free := int64(fs.Bavail) * fs.Bsize
	size := int64(fs.Blocks) * fs.Bsize
	reserve := min(size/20, addReserveMax)
	if n > free-reserve {
		return noSpace(what, n, max(free-reserve, 0))
	}
	return nil
}

func noSpace(what string, n, avail int64) *Error {
	return &Error{Status: http.StatusInsufficientStorage,
		Msg:  fmt.Sprintf("not enough free space for %s: %s needed, %s free on the service's disk; nothing was added", what, apitype.SizeText(n), apitype.SizeText(avail)),
		Hint: "free some space on that disk, or add fewer files"}
}

// mkdirs creates the folders of dir in the staging folder.
func (st *staging) mkdirs(dir string) error {
	if err := st.dir.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for p := dir; p != "."; p = path.Dir(p) {
		st.chown(p)
	}
	return nil
}

func (st *staging) chown(name string) {
	if st.f.uid >= 0 {
		st.dir.Lchown(name, st.f.uid, st.f.gid)
	}
}

// write copies size bytes of r (all of it when size is -1, not known
// ahead) to the new file name, and syncs it; it returns the bytes written.
func (st *staging) write(name string, r io.Reader, size int64) (int64, error) {
	out, err := st.dir.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	if size < 0 {
		r = &roomReader{st: st, r: r, what: fmt.Sprintf("%q", name)}
	}
	n, err := io.Copy(out, r)
	if err == nil && size >= 0 && n != size {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return n, noSpace(fmt.Sprintf("%q", name), max(size, n), 0)
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return n, e
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return n, cutOff(err)
		}
		return n, err
	}
	st.chown(name)
	return n, nil
}

// conflict refuses a name at the top that exists where it goes, unless
// replaced.
func (st *staging) conflict(top string, req AddRequest) error {
	if req.Replace {
		return nil
	}
	p := top
	if req.To != "" {
		p = req.To + "/" + top
	}
	if _, err := st.root.Lstat(p); err != nil {
		return nil
	}
	if st.welcome(p) {
		return nil
	}
	where := st.f.def.Name
	if req.To != "" {
		where += "/" + req.To
	}
	return &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("%q already exists in %s of %s; nothing was added", top, where, req.Service),
		Hint: "add it with --replace to replace it, or rename it"}
}

// welcome reports whether p is the welcome page the web service wrote,
// which the site's own index.html replaces.
func (st *staging) welcome(p string) bool {
	if st.f.s.def.Backend.Builtin != catalog.BuiltinWeb || p != "index.html" {
		return false
	}
	b, err := safefs.ReadFile(st.f.abs(), p, 64<<10)
	return err == nil && staticweb.IsWelcome(b)
}

// commit moves every name at the staging folder's top into place, each
// with one rename that never overwrites (or, to replace, one atomic
// exchange with what was there); if one fails, those already moved go
// back, and nothing was added.
func (st *staging) commit(tops []string, req AddRequest, res *apitype.AddResult) error {
	m := st.m
	// The service's folder must still be where the add began (an option
	// change or a persistence move makes it elsewhere).
	now, err := m.folder(req.Service, st.f.def.Name, "")
	if err != nil {
		return err
	}
	if now.abs() != st.f.abs() {
		return &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("the folder %s of %s moved while the files were sent; nothing was added", st.f.def.Name, req.Service),
			Hint: "add them again"}
	}
	dst, err := openDirFile(st.root, st.dest)
	if err != nil {
		return err
	}
	defer dst.Close()
	src, err := openDirFile(st.root, st.name)
	if err != nil {
		return err
	}
	defer src.Close()

	m.contentMu.Lock()
	defer m.contentMu.Unlock()
	type move struct {
		name     string
		exchange bool
	}
	var done []move
	undo := func() {
		for i := len(done) - 1; i >= 0; i-- {
			mv := done[i]
			flags := uint(renameNoReplace)
			if mv.exchange {
				flags = renameExchange
			}
			if err := renameat2(dst, mv.name, src, mv.name, flags); err != nil {
				m.log.Error("undoing an add", "service", req.Service, "err", err)
			}
		}
	}
	for _, top := range tops {
		p := top
		if req.To != "" {
			p = req.To + "/" + top
		}
		_, lerr := st.root.Lstat(p)
		exists := lerr == nil
		if exists && !req.Replace && !st.welcome(p) {
			undo()
			e := st.conflict(top, req).(*Error)
			e.Msg = strings.Replace(e.Msg, "already exists", "was added meanwhile", 1)
			return e
		}
		flags := uint(renameNoReplace)
		if exists {
			flags = renameExchange
		}
		if err := renameat2(src, top, dst, top, flags); err != nil {
			undo()
			if errors.Is(err, syscall.EEXIST) {
				return st.conflict(top, AddRequest{Service: req.Service, To: req.To})
			}
			return fmt.Errorf("moving %s into place: %w", top, err)
		}
		done = append(done, move{top, exists})
		res.Added = append(res.Added, top)
		if exists {
			res.Replaced = append(res.Replaced, top)
		}
	}
	if err := dst.Sync(); err != nil {
		m.log.Warn("syncing a content folder", "service", req.Service, "err", err)
	}
	return nil
}

// openDirFile opens a folder of root as a file, for its descriptor.
func openDirFile(root *os.Root, name string) (*os.File, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s is not a folder", name)
	}
	return f, nil
}

// renameat2's flags (linux/fs.h).
const (
	renameNoReplace = 1 << 0
	renameExchange  = 1 << 1
)

// renameat2 renames from's name to to's, as renameat2(2) with flags.
func renameat2(from *os.File, oldName string, to *os.File, newName string, flags uint) error {
	o, err := syscall.BytePtrFromString(oldName)
	if err != nil {
		return err
	}
	n, err := syscall.BytePtrFromString(newName)
	if err != nil {
		return err
	}
	if sysRenameat2 < 0 {
		return &os.LinkError{Op: "renameat2", Old: oldName, New: newName, Err: syscall.ENOSYS}
	}
	for {
		_, _, e := syscall.Syscall6(uintptr(sysRenameat2), from.Fd(), uintptr(unsafe.Pointer(o)), to.Fd(), uintptr(unsafe.Pointer(n)), uintptr(flags), 0)
		runtime.KeepAlive(from)
		runtime.KeepAlive(to)
		runtime.KeepAlive(o)
		runtime.KeepAlive(n)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return &os.LinkError{Op: "renameat2", Old: oldName, New: newName, Err: e}
		}
		return nil
	}
}

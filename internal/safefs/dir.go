package safefs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"unsafe"
)

// Dir is a directory inside a trusted one, opened without following any
// symlink on the way, whose entries are then worked on by name relative
// to its descriptor (openat, linkat, unlinkat): what the directory's path
// is made to point to later does not matter. Close it when done.
type Dir struct {
	fd   int
	path string
}

// TempPrefix starts the names of the temporary files WriteNew writes
// before it links them into place: dot names, which RemoveTemp removes.
const TempPrefix = ".tmp-"

// OpenDir opens name, a relative slash-separated path of directories
// inside dir, none through a symlink, creating its last element with perm
// if it is missing (its parents must exist); with perm 0 a missing one is
// an error wrapping fs.ErrNotExist. dir itself is trusted.
func OpenDir(dir, name string, perm uint32) (*Dir, error) {
	parent, last, err := openParent(dir, name)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(parent)
	full := filepath.Join(dir, name)
	if perm != 0 {
		if err := syscall.Mkdirat(parent, last, perm); err != nil && err != syscall.EEXIST {
			return nil, &os.PathError{Op: "mkdir", Path: full, Err: err}
		}
	}
	fd, err := openDirAt(parent, last)
	if err != nil {
		return nil, openError(full, err)
	}
	return &Dir{fd: fd, path: full}, nil
}

// Path is the directory's path, for messages.
func (d *Dir) Path() string { return d.path }

// Close closes the directory.
func (d *Dir) Close() error { return syscall.Close(d.fd) }

// Names lists the directory's entries (of every type).
func (d *Dir) Names() ([]string, error) {
	// The listing reads through a duplicate, which shares the offset
	// a listing before left at the end.
	if _, err := syscall.Seek(d.fd, 0, 0); err != nil {
		return nil, &os.PathError{Op: "seek", Path: d.path, Err: err}
	}
	return readDirNames(d.fd, d.path)
}

// ReadFile returns the content of the regular file name of the
// directory, never through a symlink, refusing (ErrTooLarge) one over
// limit bytes and (ErrNotRegular) anything but a regular file.
func (d *Dir) ReadFile(name string, limit int64) ([]byte, error) {
	if err := entryName(name); err != nil {
		return nil, err
	}
	f, err := openRegularAt(d.fd, name, filepath.Join(d.path, name))
	if err != nil {
		return nil, err
	}
	return readLimited(f, limit)
}

// WriteNew writes data to a new file name of the directory, atomically:
// to a temporary file (TempPrefix, created exclusively, mode perm),
// synced, then hard-linked to name, which is never replaced (an error
// wrapping fs.ErrExist if it exists), and the directory synced. Either
// name is whole or it is absent; the temporary file never stays behind
// (but when the process is killed: see RemoveTemp).
func (d *Dir) WriteNew(name string, data []byte, perm uint32) error {
	if err := entryName(name); err != nil {
		return err
	}
	var rb [8]byte
	rand.Read(rb[:])
	tmp := TempPrefix + hex.EncodeToString(rb[:])
	fd, err := openat(d.fd, tmp, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, perm)
	if err != nil {
		return &os.PathError{Op: "create", Path: filepath.Join(d.path, tmp), Err: err}
	}
	defer syscall.Unlinkat(d.fd, tmp)
	f := os.NewFile(uintptr(fd), filepath.Join(d.path, tmp))
	// The umask does not narrow what perm says, nor widen it.
	err = f.Chmod(os.FileMode(perm))
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := linkat(d.fd, tmp, d.fd, name); err != nil {
		return &os.LinkError{Op: "link", Old: tmp, New: filepath.Join(d.path, name), Err: err}
	}
	return syscall.Fsync(d.fd)
}

// Remove removes the entry name of the directory (not a directory), an
// error wrapping fs.ErrNotExist if there is none; a symlink is removed
// itself, never what it points to.
func (d *Dir) Remove(name string) error {
	if err := entryName(name); err != nil {
		return err
	}
	if err := syscall.Unlinkat(d.fd, name); err != nil {
		return &os.PathError{Op: "remove", Path: filepath.Join(d.path, name), Err: err}
	}
	return syscall.Fsync(d.fd)
}

// RemoveTemp removes the temporary files that WriteNew calls cut short
// by a kill left; call it when no WriteNew is under way.
func (d *Dir) RemoveTemp() error {
	names, err := d.Names()
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		if strings.HasPrefix(n, TempPrefix) {
			if err := syscall.Unlinkat(d.fd, n); err != nil && err != syscall.ENOENT {
				errs = append(errs, &os.PathError{Op: "remove", Path: filepath.Join(d.path, n), Err: err})
			}
		}
	}
	return errors.Join(errs...)
}

// entryName refuses a name that is not one entry of a directory.
func entryName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') || strings.ContainsRune(name, 0) {
		return fmt.Errorf("%q is not a name of an entry of a directory", name)
	}
	return nil
}

// linkat is linkat(2) without flags (package syscall has no wrapper), a
// hard link that fails with EEXIST rather than replace newName.
func linkat(olddirfd int, oldName string, newdirfd int, newName string) error {
	o, err := syscall.BytePtrFromString(oldName)
	if err != nil {
		return err
	}
	n, err := syscall.BytePtrFromString(newName)
	if err != nil {
		return err
	}
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_LINKAT, uintptr(olddirfd), uintptr(unsafe.Pointer(o)), uintptr(newdirfd), uintptr(unsafe.Pointer(n)), 0, 0)
		runtime.KeepAlive(o)
		runtime.KeepAlive(n)
		switch e {
		case syscall.EINTR:
			continue
		case 0:
			return nil
		}
		return e
	}
}

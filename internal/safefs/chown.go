package safefs

import (
	"os"
	"path/filepath"
	"syscall"
	"unsafe"
)

// Chown gives the entry name of the directory (or, with name "", the
// directory itself) to uid, never following a symlink; gid -1 keeps the
// group.
func (d *Dir) Chown(name string, uid, gid int) error {
	if name == "" {
		if err := syscall.Fchown(d.fd, uid, gid); err != nil {
			return &os.PathError{Op: "chown", Path: d.path, Err: err}
		}
		return nil
	}
	if err := entryName(name); err != nil {
		return err
	}
	if err := syscall.Fchownat(d.fd, name, uid, gid, _AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "chown", Path: filepath.Join(d.path, name), Err: err}
	}
	return nil
}

// RemoveAll removes the directory name of d and what it holds (at most
// maxRemoveDepth levels: what a HiddenServiceDir holds), never following a
// symlink; a missing one is no error.
func (d *Dir) RemoveAll(name string) error { return d.removeAll(name, 0) }

const maxRemoveDepth = 4

func (d *Dir) removeAll(name string, depth int) error {
	if err := entryName(name); err != nil {
		return err
	}
	if depth > maxRemoveDepth {
		return &os.PathError{Op: "remove", Path: filepath.Join(d.path, name), Err: syscall.ENOTEMPTY}
	}
	sub, err := openDirAt(d.fd, name)
	if err == syscall.ENOENT {
		return nil
	}
	if err != nil {
		return openError(filepath.Join(d.path, name), err)
	}
	s := &Dir{fd: sub, path: filepath.Join(d.path, name)}
	names, err := s.Names()
	if err == nil {
		for _, n := range names {
			uerr := syscall.Unlinkat(sub, n)
			if uerr == syscall.EISDIR || uerr == syscall.EPERM {
				uerr = s.removeAll(n, depth+1)
			}
			if uerr != nil && err == nil {
				err = &os.PathError{Op: "remove", Path: filepath.Join(s.path, n), Err: uerr}
			}
		}
	}
	s.Close()
	if err != nil {
		return err
	}
	if err := unlinkDirAt(d.fd, name); err != nil {
		return &os.PathError{Op: "remove", Path: s.path, Err: err}
	}
	return syscall.Fsync(d.fd)
}

// Flags of the *at system calls (linux/fcntl.h).
const (
	_AT_SYMLINK_NOFOLLOW = 0x100
	_AT_REMOVEDIR        = 0x200
)

// unlinkDirAt removes the empty directory name of dirfd.
func unlinkDirAt(dirfd int, name string) error {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return err
	}
	for {
		_, _, e := syscall.Syscall(syscall.SYS_UNLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), _AT_REMOVEDIR)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

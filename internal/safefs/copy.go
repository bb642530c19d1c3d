package safefs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"
)

// maxDepth bounds how deep CopyTree goes: one open descriptor per level.
const maxDepth = 128

// oPath is Linux's O_PATH, which package syscall lacks: a descriptor of
// the name itself, a symlink included, that opens nothing.
const oPath = 0x200000

// retries is how often CopyTree reopens an entry that changed between a
// symlink and something else while it looked at it.
const retries = 16

// CopyTree copies the tree at src into the existing, empty directory dst,
// which only root can write: directories, regular files (content and
// permission bits) and symlinks. It walks with directory descriptors and
// checks every entry's type on the descriptor it opened (O_NOFOLLOW,
// O_NONBLOCK), so that the user who owns src, swapping a file for a
// symlink meanwhile, cannot make it copy what the link points to: a
// symlink is recreated as the same link, never followed (it is the user's
// own data, and whoever follows it later does so with their own rights;
// refusing it would make moving an innocent service fail). FIFOs, sockets
// and devices are not state and are left out. Every new file and directory
// is fsynced, dst last; the caller syncs dst's parent after renaming it.
func CopyTree(src, dst string) error { return CopyTreeEach(src, dst, nil) }

// CopyTreeEach is CopyTree that calls copied, if not nil, with the source
// path of each regular file once it is copied and synced.
func CopyTreeEach(src, dst string, copied func(path string)) error {
	sfd, err := openat(atFDCWD, src, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: src, Err: err}
	}
	defer syscall.Close(sfd)
	dfd, err := openat(atFDCWD, dst, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dst, Err: err}
	}
	defer syscall.Close(dfd)
	var st syscall.Stat_t
	if err := syscall.Fstat(sfd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: src, Err: err}
	}
	if err := copyDir(sfd, dfd, src, 0, copied); err != nil {
		return err
	}
	if err := syscall.Fchmod(dfd, st.Mode&0o777); err != nil {
		return &os.PathError{Op: "chmod", Path: dst, Err: err}
	}
	return fsync(dfd, dst)
}

// copyDir copies the entries of the directory sfd (at path) into dfd.
func copyDir(sfd, dfd int, path string, depth int, copied func(string)) error {
	if depth > maxDepth {
		return fmt.Errorf("%s: more than %d folders deep", path, maxDepth)
	}
	names, err := readDirNames(sfd, path)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := copyEntry(sfd, dfd, name, filepath.Join(path, name), depth, copied); err != nil {
			return err
		}
	}
	return nil
}

// readDirNames lists the directory sfd through a duplicate of it.
func readDirNames(sfd int, path string) ([]string, error) {
	fd, err := syscall.Dup(sfd)
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(fd)
	d := os.NewFile(uintptr(fd), path)
	defer d.Close()
	return d.Readdirnames(-1)
}

// copyEntry copies the entry name of sfd into dfd, by the type of what it
// opened.
func copyEntry(sfd, dfd int, name, path string, depth int, copied func(string)) error {
	for range retries {
		fd, err := openat(sfd, name, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
		switch err {
		case nil:
		case syscall.ENOENT, syscall.ENXIO: // gone since listed; a socket
			return nil
		case syscall.ELOOP:
			done, err := copySymlink(sfd, dfd, name, path)
			if done || err != nil {
				return err
			}
			continue // no longer a symlink: look again
		default:
			return &os.PathError{Op: "open", Path: path, Err: err}
		}
		err = copyOpened(fd, dfd, name, path, depth, copied)
		syscall.Close(fd)
		return err
	}
	return fmt.Errorf("%s keeps changing between a symlink and a file: not copied", path)
}

// copyOpened copies the directory or regular file open as fd to name in
// dfd; anything else it leaves out.
func copyOpened(fd, dfd int, name, path string, depth int, copied func(string)) error {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	perm := st.Mode & 0o777
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		if err := copyFile(fd, dfd, name, path, perm); err != nil {
			return err
		}
		if copied != nil {
			copied(path)
		}
		return nil
	case syscall.S_IFDIR:
		if err := syscall.Mkdirat(dfd, name, 0o700); err != nil {
			return &os.PathError{Op: "mkdir", Path: path, Err: err}
		}
		nd, err := openDirAt(dfd, name)
		if err != nil {
			return &os.PathError{Op: "open", Path: path, Err: err}
		}
		defer syscall.Close(nd)
		if err := copyDir(fd, nd, path, depth+1, copied); err != nil {
			return err
		}
		// The final mode only once full: no one else enters it before.
		if err := syscall.Fchmod(nd, perm); err != nil {
			return &os.PathError{Op: "chmod", Path: path, Err: err}
		}
		return fsync(nd, path)
	}
	return nil // FIFOs, devices: not state
}

// copyFile copies the regular file open as fd to a new file name in dfd,
// with perm, synced.
func copyFile(fd, dfd int, name, path string, perm uint32) error {
	if err := syscall.SetNonblock(fd, false); err != nil {
		return err
	}
	ofd, err := openat(dfd, name, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "create", Path: path, Err: err}
	}
	out := os.NewFile(uintptr(ofd), path)
	defer out.Close()
	// in borrows fd, which the caller closes.
	in := io.NewSectionReader(fdReader(fd), 0, 1<<62)
	if _, err := io.Copy(out, in); err != nil {
		// out bears the source's name: say only what went wrong.
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("copying %s: %w", path, err)
	}
	if err := out.Chmod(os.FileMode(perm)); err != nil {
		return err
	}
	return out.Sync()
}

// fdReader reads a descriptor it does not own at given offsets.
type fdReader int

func (r fdReader) ReadAt(p []byte, off int64) (int, error) {
	for {
		n, err := syscall.Pread(int(r), p, off)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 && len(p) > 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

// copySymlink recreates the symlink name of sfd in dfd, reading the link
// through a descriptor of the link itself (O_PATH) so that what it copies
// is what it checked. done is false when name is no longer a symlink.
func copySymlink(sfd, dfd int, name, path string) (done bool, err error) {
	lfd, err := openat(sfd, name, oPath|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err == syscall.ENOENT {
		return true, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(lfd)
	var st syscall.Stat_t
	if err := syscall.Fstat(lfd, &st); err != nil {
		return false, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFLNK {
		return false, nil
	}
	target, err := readlinkFd(lfd)
	if err != nil {
		return false, &os.PathError{Op: "readlink", Path: path, Err: err}
	}
	if err := symlinkat(target, dfd, name); err != nil {
		return false, &os.PathError{Op: "symlink", Path: path, Err: err}
	}
	return true, nil
}

// readlinkFd reads the symlink open (O_PATH) as fd: readlinkat(fd, "").
func readlinkFd(fd int) (string, error) {
	empty, _ := syscall.BytePtrFromString("")
	for n := 256; ; n *= 2 {
		buf := make([]byte, n)
		r, _, e := syscall.Syscall6(syscall.SYS_READLINKAT, uintptr(fd), uintptr(unsafe.Pointer(empty)),
			uintptr(unsafe.Pointer(&buf[0])), uintptr(n), 0, 0)
		if e != 0 {
			return "", e
		}
		if int(r) < n {
			return string(buf[:r]), nil
		}
	}
}

// symlinkat makes name in dirfd a symlink to target.
func symlinkat(target string, dirfd int, name string) error {
	t, err := syscall.BytePtrFromString(target)
	if err != nil {
		return err
	}
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return err
	}
	if _, _, e := syscall.Syscall(syscall.SYS_SYMLINKAT, uintptr(unsafe.Pointer(t)), uintptr(dirfd), uintptr(unsafe.Pointer(p))); e != 0 {
		return e
	}
	return nil
}

// fsync syncs the file or directory open as fd.
func fsync(fd int, path string) error {
	for {
		err := syscall.Fsync(fd)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "fsync", Path: path, Err: err}
		}
		return nil
	}
}

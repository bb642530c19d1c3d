// Package safefs opens files, as root, inside trees that another user can
// write (a backend's data directory), without being led elsewhere by what
// that user put there. Every path component below the trusted directory is
// opened relative to its parent's descriptor with O_NOFOLLOW, so no
// symlink is ever followed; a file's type is checked on the descriptor it
// was opened as (fstat), never by name before opening; and nothing is
// opened in a way that can block (O_NONBLOCK): a FIFO in place of a file
// is refused, not waited on. Linux only, standard library only (syscall).
package safefs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrNotRegular is wrapped by the errors about a name that is a symlink,
// a FIFO, a socket, a device or a directory where a regular file was
// wanted.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by ReadFile's error about a file over its limit.
var ErrTooLarge = errors.New("file too large")

// OpenRegular opens name, a relative slash-separated path, read-only
// inside dir: no component may be a symlink, and the file must be a
// regular one. dir itself is trusted (its parents are root's); an error
// wrapping ErrNotRegular, or fs.ErrNotExist, says what was found instead,
// naming the full path.
func OpenRegular(dir, name string) (*os.File, error) {
	parent, last, err := openParent(dir, name)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(parent)
	return openRegularAt(parent, last, filepath.Join(dir, name))
}

// openRegularAt opens the regular file name of the directory parent
// read-only, not through a symlink; full is its path for errors.
func openRegularAt(parent int, name, full string) (*os.File, error) {
	fd, err := openat(parent, name, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, openError(full, err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: full, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		syscall.Close(fd)
		return nil, fmt.Errorf("%s is %s, %w", full, kind(st.Mode), ErrNotRegular)
	}
	// A regular file never blocks; a blocking descriptor keeps os.File
	// from trying the poller.
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), full), nil
}

// ReadFile returns the content of the regular file name inside dir, as
// OpenRegular opens it, refusing (ErrTooLarge) a file over limit bytes.
func ReadFile(dir, name string, limit int64) ([]byte, error) {
	f, err := OpenRegular(dir, name)
	if err != nil {
		return nil, err
	}
	return readLimited(f, limit)
}

// readLimited reads all of f, which it closes, refusing (ErrTooLarge)
// more than limit bytes.
func readLimited(f *os.File, limit int64) ([]byte, error) {
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s has %d bytes, more than %d: %w", f.Name(), fi.Size(), limit, ErrTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s grew past %d bytes: %w", f.Name(), limit, ErrTooLarge)
	}
	return b, nil
}

// openParent opens dir, then every directory of name but its last
// element, none through a symlink; it returns the last directory's
// descriptor and name's last element.
func openParent(dir, name string) (int, string, error) {
	clean := filepath.Clean(name)
	if filepath.IsAbs(clean) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return -1, "", fmt.Errorf("%s is not a path inside %s", name, dir)
	}
	fd, err := openat(atFDCWD, dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", &os.PathError{Op: "open", Path: dir, Err: err}
	}
	parts := strings.Split(clean, "/")
	for i, p := range parts[:len(parts)-1] {
		next, err := openDirAt(fd, p)
		syscall.Close(fd)
		if err != nil {
			return -1, "", openError(filepath.Join(dir, strings.Join(parts[:i+1], "/")), err)
		}
		fd = next
	}
	return fd, parts[len(parts)-1], nil
}

// openDirAt opens the directory name of dirfd, not through a symlink.
func openDirAt(dirfd int, name string) (int, error) {
	return openat(dirfd, name, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
}

const atFDCWD = -0x64 // AT_FDCWD

// openat is syscall.Openat, retried on EINTR.
func openat(dirfd int, name string, flags int, mode uint32) (int, error) {
	for {
		fd, err := syscall.Openat(dirfd, name, flags, mode)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// openError turns what openat said about name into an error that says
// what was found there.
func openError(name string, err error) error {
	switch err {
	case syscall.ELOOP:
		return fmt.Errorf("%s is a symbolic link (not followed), %w", name, ErrNotRegular)
	case syscall.ENOTDIR:
		return fmt.Errorf("%s is not a directory (a symbolic link is not followed): %w", name, ErrNotRegular)
	case syscall.ENXIO:
		return fmt.Errorf("%s is a socket, %w", name, ErrNotRegular)
	}
	return &os.PathError{Op: "open", Path: name, Err: err}
}

// kind names a file type for an error.
func kind(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return "a directory"
	case syscall.S_IFIFO:
		return "a FIFO"
	case syscall.S_IFSOCK:
		return "a socket"
	case syscall.S_IFCHR, syscall.S_IFBLK:
		return "a device"
	case syscall.S_IFLNK:
		return "a symbolic link"
	}
	return "of an unknown type"
}

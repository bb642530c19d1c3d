package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// CheckOwned refuses a root that another user could change under the
// daemon: the directory (or, when it does not exist yet, the directory it
// would be created in) and every directory above it must belong to the
// daemon's user or to root, and none may be writable by anyone else
// unless it has the sticky bit (as /tmp has) and is not the root itself.
// A user who owns the state dir, or can rename entries in a directory
// above it, can swap the daemon's folders for links to their own and
// plant or take what the daemon writes there as root.
//
// what names the root in the error ("state dir"); the error is one line
// saying which directory is wrong and how to fix it.
func CheckOwned(what, dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, dir, err)
	}
	// The nearest directory that exists; links resolved, so that the
	// directories checked are the ones the daemon will really use.
	existing := abs
	for {
		if _, err := os.Lstat(existing); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s %s: %w", what, dir, errors.Unwrap(err))
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		existing = parent
	}
	real, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, dir, errors.Unwrap(err))
	}
	self := os.Geteuid()
	isRoot := existing == abs
	for p := real; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%s %s: %w", what, dir, errors.Unwrap(err))
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s %s: %s is not a directory: give a directory", what, dir, p)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if uid := int(st.Uid); uid != 0 && uid != self {
			return fmt.Errorf("%s %s: %s belongs to %s, who could change what the daemon trusts: chown %s %s, or choose a directory of %s's",
				what, dir, p, userName(uid), userArg(self), p, userArg(self))
		}
		mode := fi.Mode()
		if mode.Perm()&0o022 != 0 && (isRoot && p == real || mode&fs.ModeSticky == 0) {
			return fmt.Errorf("%s %s: %s is writable by other users (mode %04o): chmod go-w %s, or choose another directory",
				what, dir, p, st.Mode&0o7777, p)
		}
		if p == "/" {
			return nil
		}
	}
}

// userName is "NAME (uid N)", or "uid N" for a uid without a name.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("%s (uid %d)", u.Username, uid)
	}
	return "uid " + strconv.Itoa(uid)
}

// userArg names uid for chown: its name, or the number.
func userArg(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

package torsup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// TorUser is the system user the daemon's own tors run as (tor's User
// option) when the daemon runs as root. It is the daemon's alone: not
// debian-tor, which the system tor runs as, so that no other tor can reach
// the checker's SOCKS socket or the daemon's tors' control cookies, and so
// that the firewall, which lets tor's user reach backends with
// allow-localhost off, trusts no other program.
const TorUser = "tails-server-tor"

// EnsureUser creates the system user name (no home, no login shell, a group
// of its own) if it does not exist yet.
func EnsureUser(name string) error {
	_, err := user.Lookup(name)
	if err == nil {
		return nil
	}
	var unknown user.UnknownUserError
	if !errors.As(err, &unknown) {
		return fmt.Errorf("looking up user %s: %w", name, err)
	}
	out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
		"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--comment", "tails-server's tor", name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("creating the system user %s for tor (useradd): %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// lookupIDs returns the uid and the primary gid of user name.
func lookupIDs(name string) (int, int, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("tor's user %s: %w (the daemon creates it at start)", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("tor's user %s has uid %q, gid %q", name, u.Uid, u.Gid)
	}
	return uid, gid, nil
}

// chownTree gives dir and everything in it to uid:gid, never following a
// symbolic link, and makes dir 0700: tor refuses a DataDirectory that is
// not its user's, and one that others can read.
func chownTree(dir string, uid, gid int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
	if err != nil {
		return fmt.Errorf("giving tor's DataDirectory %s to its user: %w", dir, err)
	}
	return os.Chmod(dir, 0o700)
}

// CheckReachable checks that user name can reach dir (or, if dir does not
// exist yet, the place it will be made in): tor opens its DataDirectory by
// its path after it has become that user, so every directory above it must
// let that user through (search permission, "x").
func CheckReachable(name, dir string) error {
	uid, gid, err := lookupIDs(name)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	parent := "/"
	for _, part := range strings.Split(strings.TrimPrefix(filepath.Dir(abs), "/"), "/") {
		if part == "" {
			continue
		}
		if err := checkSearch(parent, uid, gid); err != nil {
			return fmt.Errorf("tor runs as %s, which cannot reach %s: %w", name, abs, err)
		}
		next := filepath.Join(parent, part)
		if fi, err := os.Stat(next); err != nil || !fi.IsDir() {
			// Made later, by root, with modes the store chooses; or
			// not a directory, which the store reports.
			return nil
		}
		parent = next
	}
	if err := checkSearch(parent, uid, gid); err != nil {
		return fmt.Errorf("tor runs as %s, which cannot reach %s: %w", name, abs, err)
	}
	return nil
}

// checkSearch says whether uid (primary group gid) may pass through dir.
func checkSearch(dir string, uid, gid int) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	bit := fs.FileMode(0o001)
	switch {
	case int(st.Uid) == uid:
		bit = 0o100
	case int(st.Gid) == gid:
		bit = 0o010
	}
	if fi.Mode().Perm()&bit == 0 {
		return fmt.Errorf("%s is closed to other users (mode %04o): make it traversable (chmod o+x %s) or choose a directory elsewhere", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultGroup is the group whose members may use the API besides root
// (--group names another). The daemon creates it when it is missing.
const DefaultGroup = "tails-server"

// apiGroup returns the group that may use the API and its gid: name, or
// DefaultGroup when name is empty, which is created when missing. A named
// group must exist: a typo must not make a new group.
func apiGroup(name string, log *slog.Logger) (string, int, error) {
	create := name == ""
	if create {
		name = DefaultGroup
	}
	g, err := user.LookupGroup(name)
	var unknown user.UnknownGroupError
	if errors.As(err, &unknown) && create {
		out, gerr := exec.Command("groupadd", "--system", name).CombinedOutput()
		// Another daemon may have made it meanwhile: look again either way.
		if g, err = user.LookupGroup(name); err != nil {
			msg := strings.TrimSpace(string(out))
			if gerr != nil && msg == "" {
				msg = gerr.Error()
			}
			return "", 0, fmt.Errorf("creating the group %s of the API socket with groupadd --system: %s (run the daemon as root, or name an existing group with --group)", name, msg)
		}
		log.Info("created the group of the API socket", "group", name, "gid", g.Gid, "join", "sudo adduser $USER "+name)
	}
	if errors.As(err, &unknown) {
		return "", 0, fmt.Errorf("--group %s: no such group: create it with `groupadd --system %s`, or leave --group out for %s", name, name, DefaultGroup)
	}
	if err != nil {
		return "", 0, fmt.Errorf("group %s of the API socket: %w", name, err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return "", 0, fmt.Errorf("group %s: gid %q", name, g.Gid)
	}
	return name, gid, nil
}

// listen opens the API socket, owned by the daemon's user and gid, mode
// 0660 (root and the group's members), replacing a stale one.
func listen(path string, gid int) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket: choose another --socket or remove it", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("a daemon already listens on %s", path)
		}
		os.Remove(path)
	}
	// 0600 until it has its group: nobody else connects in between.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Lchown(path, os.Geteuid(), gid); err != nil {
		ln.Close()
		return nil, fmt.Errorf("giving the socket %s its group: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

package confine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"regexp"
	"strconv"
	"strings"
)

// rootEnv is the whole environment of what runs as root on the way in
// (ip, setpriv): never the caller's, whose LD_PRELOAD and kin would
// otherwise reach a root process.
var rootEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}

// loader runs as the caller, after the drop: it reads the caller's
// environment from the file ($0), enters the working directory ($1) and
// executes the command with that environment.
const loader = `set -a && . "$0" && set +a && cd "$1" && shift && exec "$@"`

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// WriteEnvFile writes env (KEY=VALUE entries) as a file the loader
// sources: every value single-quoted, entries whose names the shell
// cannot take left out. The file is 0600; its directory must be the
// caller's.
func WriteEnvFile(path string, env []string) error {
	var b strings.Builder
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !envNameRE.MatchString(k) || strings.ContainsRune(v, 0) {
			continue
		}
		fmt.Fprintf(&b, "%s='%s'\n", k, strings.ReplaceAll(v, "'", `'\''`))
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Command returns the command that runs argv in the namespace of s as
// uid/gid (never root): `ip netns exec` enters the namespace (and binds
// /etc/netns/ts-APP/resolv.conf over /etc/resolv.conf), then util-linux's
// setpriv drops to the caller's uid, gid and groups with no capabilities,
// an empty bounding set and no_new_privs, so that no set-user-ID program
// inside can win back the power to change the namespace's rules; then,
// as the caller, /bin/sh reads the caller's environment from envFile
// (see WriteEnvFile), enters dir and executes argv. What runs as root
// sees none of the caller's environment, and the environment never
// appears in a command line.
func (m *Manager) Command(ctx context.Context, s Spec, uid, gid int, argv []string, envFile, dir string) (*exec.Cmd, error) {
	if uid == 0 {
		return nil, errors.New("refusing to run a confined program as root: run it as the desktop user")
	}
	if uid < 0 || gid < 0 {
		return nil, errors.New("confine: invalid uid or gid")
	}
	if len(argv) == 0 {
		return nil, errors.New("confine: no command")
	}
	if dir == "" {
		dir = "/"
	}
	groups := "--clear-groups"
	if _, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		groups = "--init-groups"
	}
	args := []string{"netns", "exec", s.Namespace(), "setpriv",
		"--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(gid), groups,
		"--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
		"/bin/sh", "-c", loader, envFile, dir}
	args = append(args, argv...)
	cmd := exec.CommandContext(ctx, m.ip(), args...)
	cmd.Env = rootEnv
	cmd.Dir = "/"
	return cmd, nil
}

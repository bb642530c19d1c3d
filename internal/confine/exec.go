package confine

import (
	"context"
	"errors"
	"os/exec"
	"os/user"
	"strconv"
)

// Command returns the command that runs argv in the namespace of s as
// uid/gid (never root): `ip netns exec` enters the namespace (and binds
// /etc/netns/ts-APP/resolv.conf over /etc/resolv.conf), then util-linux's
// setpriv drops to the caller's uid, gid and groups with no capabilities
// and no_new_privs, so that no set-user-ID program inside can win back
// the power to change the namespace's rules. Env and Dir are the
// caller's; the directory is entered after the drop (
// by coreutils' env, as the caller).
func (m *Manager) Command(ctx context.Context, s Spec, uid, gid int, argv, env []string, dir string) (*exec.Cmd, error) {
	if uid == 0 {
		return nil, errors.New("refusing to run a confined program as root: run it as the desktop user")
	}
	if uid < 0 || gid < 0 {
		return nil, errors.New("confine: invalid uid or gid")
	}
	if len(argv) == 0 {
		return nil, errors.New("confine: no command")
	}
	groups := "--clear-groups"
	if _, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		groups = "--init-groups"
	}
	args := []string{"netns", "exec", s.Namespace(), "setpriv",
		"--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(gid), groups,
		"--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"}
	if dir != "" {
		// coreutils' env enters the directory as the caller.
		args = append(args, "env", "--chdir="+dir, "--")
	}
	args = append(args, argv...)
	cmd := exec.CommandContext(ctx, m.ip(), args...)
	cmd.Env = env
	cmd.Dir = "/"
	return cmd, nil
}

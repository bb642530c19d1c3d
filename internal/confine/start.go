package confine

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
)

// setns(2) and the no_new_privs prctl, which package syscall does not
// name on every architecture.
const prSetNoNewPrivs = 0x26

func sysSetns() uintptr {
	if runtime.GOARCH == "arm64" {
		return 268
	}
	return 308 // amd64
}

// Direct returns the command that runs argv in the namespace of s as
// uid/gid without helper programs (the SOCKS-only mode, which needs no
// resolv.conf of its own): Start forks it from a thread of the daemon
// moved into the namespace and marked no_new_privs, with the caller's
// uid, gid and groups (Go drops them in the child before it enters dir
// and executes). /bin/sh, as the caller, looks the command up in the
// caller's PATH. The caller's environment goes to the command only: it
// is set at execve, after the drop.
func (m *Manager) Direct(s Spec, uid, gid int, argv, env []string, dir string) (*exec.Cmd, error) {
	if uid == 0 {
		return nil, errors.New("refusing to run a confined program as root: run it as the desktop user")
	}
	if uid < 0 || gid < 0 || len(argv) == 0 {
		return nil, errors.New("confine: invalid uid, gid or command")
	}
	if dir == "" {
		dir = "/"
	}
	var groups []uint32
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		if ids, err := u.GroupIds(); err == nil {
			for _, id := range ids {
				if g, err := strconv.Atoi(id); err == nil && g != 0 {
					groups = append(groups, uint32(g))
				}
			}
		}
	}
	cmd := exec.Command("/bin/sh", append([]string{"-c", `exec "$@"`, "sh"}, argv...)...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}}
	return cmd, nil
}

// StartIn starts cmd (from Direct) in the namespace of s.
func (m *Manager) StartIn(s Spec, cmd *exec.Cmd) error { return startIn(s.Namespace(), cmd, true) }

// startIn starts cmd in namespace ns from a thread moved there (and
// marked no_new_privs if nnp), which is then discarded.
func startIn(ns string, cmd *exec.Cmd, nnp bool) error {
	done := make(chan error, 1)
	go func() {
		// This thread joins the namespace and keeps no_new_privs: it is
		// never given back to the runtime, and ends with this goroutine.
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join(NetnsDir, ns))
		if err != nil {
			done <- fmt.Errorf("namespace %s: %w", ns, err)
			return
		}
		defer f.Close()
		if _, _, e := syscall.RawSyscall(sysSetns(), f.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
			done <- fmt.Errorf("entering namespace %s: %w", ns, e)
			return
		}
		if !nnp {
			done <- cmd.Start()
			return
		}
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0); e != 0 {
			done <- fmt.Errorf("no_new_privs: %w", e)
			return
		}
		done <- cmd.Start()
	}()
	return <-done
}

package services

import (
	"fmt"
	"os"
	"syscall"

	"tails-server/internal/catalog"
)

// A privileged backend (catalog Backend.Privileged, e.g. sshd) drops
// privileges itself: its master process must start as root (to chroot, to
// switch to the logged-in user), and it runs its sessions as the service's
// own user. The daemon then starts it and its pre_start hook as root, and
// keeps the data directory itself root's, since sshd refuses a
// ChrootDirectory that any other user could write.

// runAs returns the credential the backend's program and pre_start hook
// run with: the backend user's, or nil (the daemon's own, root) for a
// privileged backend.
func runAs(def *catalog.Service, cred *syscall.Credential) *syscall.Credential {
	if def.Backend.Privileged {
		return nil
	}
	return cred
}

// ownDataDir gives the data directory to the backend's user. For a
// privileged backend the directory itself stays root's, mode 0755, and
// only what it holds goes to the user. cred is nil when the daemon does
// not run as root, which a privileged backend cannot do without.
func ownDataDir(def *catalog.Service, dataDir string, cred *syscall.Credential) error {
	if def.Backend.Privileged && (cred == nil || os.Geteuid() != 0) {
		return fmt.Errorf("%s needs the daemon to run as root: its program starts as root and drops to %s itself",
			def.Name, def.Backend.User)
	}
	if cred == nil {
		return nil
	}
	if !def.Backend.Privileged {
		return chownTree(dataDir, int(cred.Uid), int(cred.Gid))
	}
	if err := os.Lchown(dataDir, 0, 0); err != nil {
		return err
	}
	if err := os.Chmod(dataDir, 0o755); err != nil {
		return err
	}
	// One walk inside dataDir: an entry of it that is a symlink is
	// given away itself, never what it points to.
	return chownContents(dataDir, int(cred.Uid), int(cred.Gid))
}

package services

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"tails-server/internal/catalog"
	"tails-server/internal/testenv"
)

func TestRunAs(t *testing.T) {
	cred := &syscall.Credential{Uid: 65534, Gid: 65534}
	plain := &catalog.Service{Name: "a", Backend: catalog.Backend{Command: []string{"x"}, User: "u", CreateUser: true}}
	priv := &catalog.Service{Name: "b", Backend: catalog.Backend{Command: []string{"x"}, User: "u", CreateUser: true, Privileged: true}}
	if runAs(plain, cred) != cred {
		t.Error("an unprivileged backend must run as its user")
	}
	if runAs(priv, cred) != nil {
		t.Error("a privileged backend starts as the daemon's user (root)")
	}
}

func TestOwnDataDir(t *testing.T) {
	priv := &catalog.Service{Name: "sftp", Backend: catalog.Backend{Command: []string{"sshd"}, User: "tails-server-sftp", CreateUser: true, Privileged: true}}
	if err := ownDataDir(priv, t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "sftp needs the daemon to run as root") {
		t.Fatalf("privileged backend without root: %v", err)
	}
	testenv.RequireRoot(t, "this test changes owners")
	cred := &syscall.Credential{Uid: 65534, Gid: 65534}
	owner := func(p string) (int, os.FileMode) {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return int(fi.Sys().(*syscall.Stat_t).Uid), fi.Mode().Perm()
	}
	mk := func() string {
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.MkdirAll(filepath.Join(dir, "files", "sub"), 0o750); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "files", "sub", "f"), []byte("x"), 0o640)
		return dir
	}

	dir := mk()
	if err := ownDataDir(priv, dir, cred); err != nil {
		t.Fatal(err)
	}
	if uid, mode := owner(dir); uid != 0 || mode != 0o755 {
		t.Errorf("privileged: data dir uid %d mode %o, want root's, 0755 (a chroot)", uid, mode)
	}
	for _, p := range []string{"files", "files/sub", "files/sub/f"} {
		if uid, _ := owner(filepath.Join(dir, p)); uid != 65534 {
			t.Errorf("privileged: %s belongs to %d, want the backend's user", p, uid)
		}
	}

	plain := &catalog.Service{Name: "web2", Backend: catalog.Backend{Command: []string{"x"}, User: "u"}}
	dir = mk()
	if err := ownDataDir(plain, dir, cred); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".", "files", "files/sub/f"} {
		if uid, _ := owner(filepath.Join(dir, p)); uid != 65534 {
			t.Errorf("unprivileged: %s belongs to %d, want the backend's user", p, uid)
		}
	}
}

// TestOwnDataDirPrivilegedLinkStaysInside: a symlink right in a privileged
// backend's data directory, to a folder outside it, is given to the user
// itself; the folder and its files keep root as owner.
func TestOwnDataDirPrivilegedLinkStaysInside(t *testing.T) {
	testenv.RequireRoot(t, "this test changes owners")
	priv := &catalog.Service{Name: "sftp", Backend: catalog.Backend{Command: []string{"sshd"}, User: "u", Privileged: true}}
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "shadow"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := ownDataDir(priv, dir, &syscall.Credential{Uid: 65534, Gid: 65534}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{outside, filepath.Join(outside, "shadow")} {
		if fi, err := os.Lstat(p); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
			t.Errorf("%s was given away through the symlink in the data dir (%v)", p, err)
		}
	}
	for _, p := range []string{"files", "link"} {
		if fi, err := os.Lstat(filepath.Join(dir, p)); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 65534 {
			t.Errorf("%s was not given to the backend's user (%v)", p, err)
		}
	}
}

package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/testenv"
)

// TestMain runs the swapper instead of the tests when started as it.
func TestMain(m *testing.M) {
	if dir := os.Getenv("TAILS_TEST_SWAP_DIR"); dir != "" {
		swapForever(dir, os.Getenv("TAILS_TEST_SWAP_WORK"), os.Getenv("TAILS_TEST_SWAP_TARGET"))
	}
	if src := os.Getenv("TAILS_TEST_COPY_SRC"); src != "" {
		if err := CopyTree(src, os.Getenv("TAILS_TEST_COPY_DST")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// swapFiles are the files of the tree the swapper keeps swapping.
var swapFiles = []string{"f0", "f1", "sub/f2", "sub/f3"}

// swapForever, as the backend's user, replaces each file of dir in turn by
// a symlink to target and back by a harmless file, atomically (rename from
// the work folder), so that the name always exists.
func swapForever(dir, work, target string) {
	for i := 0; ; i++ {
		name := filepath.Join(dir, swapFiles[i%len(swapFiles)])
		l, r := filepath.Join(work, "l"), filepath.Join(work, "r")
		if os.Symlink(target, l) == nil {
			os.Rename(l, name)
		}
		if os.WriteFile(r, []byte("harmless\n"), 0o644) == nil {
			os.Rename(r, name)
		}
	}
}

// TestCopyTreeSwapRace: the backend's user (nobody) swaps the files of a
// tree it owns for symlinks to a root-only file while root copies the tree
// (a persistence move) 200 times: no copy ever holds the file's bytes.
func TestCopyTreeSwapRace(t *testing.T) {
	testenv.RequireRoot(t, "the swapper runs as nobody against root's copy")
	secret := []byte("SECRET-STAND-IN-FOR-ETC-SHADOW root:$y$j9T$notreal:19000::::::\n")
	secretPath := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(secretPath, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	base, err := os.MkdirTemp("", "swaprace-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	src, work := filepath.Join(base, "src"), filepath.Join(base, "work")
	for _, d := range []string{src, filepath.Join(src, "sub"), work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range swapFiles {
		if err := os.WriteFile(filepath.Join(src, f), []byte("harmless\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{base, src, filepath.Join(src, "sub"), work} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range append([]string{src, filepath.Join(src, "sub"), work}, prefixed(src, swapFiles)...) {
		if err := os.Lchown(p, testenv.Nobody, testenv.Nobody); err != nil {
			t.Fatal(err)
		}
	}
	testenv.StartAsNobody(t, "TAILS_TEST_SWAP_DIR="+src, "TAILS_TEST_SWAP_WORK="+work, "TAILS_TEST_SWAP_TARGET="+secretPath)
	waitFor(t, "the swapper to plant a symlink", func() bool {
		for _, f := range prefixed(src, swapFiles) {
			if fi, err := os.Lstat(f); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
				return true
			}
		}
		return false
	})

	copies, failures := 0, 0
	for i := range 200 {
		dst := filepath.Join(base, fmt.Sprintf("dst%d", i))
		if err := os.Mkdir(dst, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := CopyTree(src, dst); err != nil {
			failures++
			t.Logf("copy %d: %v", i, err)
		} else {
			copies++
		}
		filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			if b, _ := os.ReadFile(p); bytes.Contains(b, secret[:20]) {
				t.Errorf("copy %d: %s holds the root-only file's bytes: the copy followed a symlink the backend's user planted", i, p)
			}
			return nil
		})
		os.RemoveAll(dst)
	}
	if copies == 0 {
		t.Fatalf("no copy succeeded (%d failed)", failures)
	}
	t.Logf("%d copies, %d refused", copies, failures)
}

// TestCopyTreeSyncsEverything: a copy, watched with strace, fsyncs every
// file and every directory it made (a crash after the move's rename must
// not leave a folder of the service empty), and keeps symlinks as links,
// modes, and no FIFO.
func TestCopyTreeSyncsEverything(t *testing.T) {
	strace := testenv.RequireProgram(t, "strace")
	src, dst := t.TempDir(), t.TempDir()
	for _, d := range []string{"config", "data/certs", "data/a/b"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"service.json", "config/x.conf", "data/certs/tls.fingerprint", "data/a/b/deep"} {
		if err := os.WriteFile(filepath.Join(src, f), []byte(f), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("certs/tls.fingerprint", filepath.Join(src, "data", "link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(src, "data", "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "strace.out")
	cmd := exec.Command(strace, "-f", "-y", "-qq", "-e", "signal=none", "-e", "trace=fsync,fdatasync", "-o", out, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TAILS_TEST_COPY_SRC="+src, "TAILS_TEST_COPY_DST="+dst)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("copy under strace: %v: %s", err, b)
	}
	trace, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".", "config", "data", "data/certs", "data/a", "data/a/b",
		"service.json", "config/x.conf", "data/certs/tls.fingerprint", "data/a/b/deep"} {
		full := filepath.Clean(filepath.Join(dst, p))
		if !bytes.Contains(trace, []byte("<"+full+">")) {
			t.Errorf("%s was never fsynced", full)
		}
	}
	if l, err := os.Readlink(filepath.Join(dst, "data", "link")); err != nil || l != "certs/tls.fingerprint" {
		t.Errorf("symlink copied as %q, %v; want the same link", l, err)
	}
	if _, err := os.Lstat(filepath.Join(dst, "data", "fifo")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a FIFO was copied: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "data", "a")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("folder mode %v, %v; want 0750 kept", fi.Mode().Perm(), err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "data", "a", "b", "deep")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("file mode %v, %v; want 0640 kept", fi.Mode().Perm(), err)
	}
}

func prefixed(dir string, names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, filepath.Join(dir, n))
	}
	return out
}

// waitFor polls cond until it holds, failing the test after a generous
// minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

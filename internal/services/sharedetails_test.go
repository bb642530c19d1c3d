package services

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
)

// TestShareDetailFileNotAFile: the files that share's details come from
// (xmpp's certificate fingerprint, sftp's host key and its fingerprint)
// are the backend's; in place of each, a symlink to a root-only file and a
// FIFO. share shows neither the file's bytes nor hangs, says the detail is
// not available and why, and list answers meanwhile.
func TestShareDetailFileNotAFile(t *testing.T) {
	secret := "SECRET-STAND-IN-FOR-ETC-SHADOW"
	secretPath := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(secretPath, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"symlink", "fifo"} {
		m := newTestManager(t)
		tested := 0
		for _, name := range m.catalog.Names() {
			s, _ := m.get(name)
			s.mu.Lock()
			s.rec.Address = strings.TrimSuffix(fakeOnion, ".onion")
			configDir, dataDir := dirs(m.store, name)
			env := catalog.Env{Address: fakeOnion, Config: configDir, Data: dataDir}
			fields := map[string]any{"address": fakeOnion, "port": s.def.OnionPorts[0].Virtual}
			files := map[string]string{} // label: path
			for _, d := range s.def.Connect.Details {
				if d.File == "" {
					continue
				}
				p, err := catalog.Expand(s.def, d.File, m.values(s), env, fields)
				if err != nil {
					t.Fatal(err)
				}
				files[d.Label] = p
			}
			s.mu.Unlock()
			if len(files) == 0 {
				continue
			}
			tested++
			for _, p := range files {
				plant(t, kind, p, secretPath)
			}
			t.Run(kind+"/"+name, func(t *testing.T) {
				sh := answers(t, "share "+name, func() any {
					sh, err := m.Share(name, "")
					if err != nil {
						t.Errorf("share %s: %v", name, err)
					}
					return sh
				}).(apitype.Share)
				answers(t, "list", func() any { return m.List() })
				for _, d := range sh.Details {
					path, ok := files[d.Label]
					if !ok {
						continue
					}
					if strings.Contains(d.Value, secret) {
						t.Errorf("%s %q shows the root-only file a symlink points to: %q", name, d.Label, d.Value)
					}
					want := map[string]string{"symlink": "symbolic link", "fifo": "FIFO"}[kind]
					if !strings.Contains(d.Value, "not available") || !strings.Contains(d.Value, want) || !strings.Contains(d.Value, path) {
						t.Errorf("%s %q = %q; want it not available, naming %s and what is there (%s)", name, d.Label, d.Value, path, want)
					}
				}
			})
		}
		if tested < 2 {
			t.Fatalf("only %d services with detail files in the catalog; want xmpp's and sftp's at least", tested)
		}
	}
}

// plant puts a symlink to target, or a FIFO, at path, the way a backend's
// user could.
func plant(t *testing.T, kind, path, target string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var err error
	if kind == "symlink" {
		err = os.Symlink(target, path)
	} else {
		err = syscall.Mkfifo(path, 0o666)
		// A reader stuck on it (the code before the fix) is let go at
		// the end of the test.
		t.Cleanup(func() {
			if fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				syscall.Close(fd)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// answers runs f, failing the test if it has not returned within a
// generous minute (it should take microseconds).
func answers(t *testing.T, what string, f func() any) any {
	t.Helper()
	done := make(chan any, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("%s did not answer within a minute: it hangs on a FIFO in place of a detail file", what)
		return nil
	}
}

package store

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tails-server/internal/testenv"
)

// crash is what the fault hook panics with: the move stops there, as a
// kill would stop it (the move defers nothing that cleans up).
type crash struct{}

// moveFixture makes the service "web" in the persistent root (persistent)
// or the volatile one: a record with its persistence option, a key, two
// clients and a few data files, one of them a few MB.
func moveFixture(t *testing.T, s *Store, persistent bool) map[string][]byte {
	t.Helper()
	dir := filepath.Join(s.servicesDir(persistent), "web")
	files := map[string][]byte{
		"hs_ed25519_secret_key": []byte("== ed25519v1-secret: type0 ==\x00\x00\x00key"),
		"data/www/index.html":   []byte("<h1>hi</h1>"),
		"data/www/a/b.txt":      []byte("b"),
		"data/www/big.bin":      bytes.Repeat([]byte("0123456789abcdef"), 3<<16),
		"config/web.conf":       []byte("x=1\n"),
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rec := &Service{Name: "web", Enabled: true, Address: "addr", Persistent: persistent,
		Clients: []Client{{Name: "ann", PrivateKey: "K1", Added: time.Unix(1, 0).UTC()}, {Name: "bob", PrivateKey: "K2", Added: time.Unix(2, 0).UTC()}},
		Options: map[string]string{"persistence": fmt.Sprint(persistent), "title": "T"}}
	if err := s.Save(rec); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "service.json"))
	files["service.json"] = b
	return files
}

// checkOneConsistentState checks that web is in exactly the root want
// names, with every file, its clients, key and address, a persistence
// option that says where it is, and nothing left of a move.
func checkOneConsistentState(t *testing.T, s *Store, want bool, files map[string][]byte) {
	t.Helper()
	if got := s.IsPersistent("web"); got != want {
		t.Fatalf("web is persistent %v, want %v", got, want)
	}
	for _, p := range []bool{true, false} {
		ents, _ := os.ReadDir(s.servicesDir(p))
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("left in %s: %s", s.servicesDir(p), e.Name())
			}
			if e.Name() == "web" && p != want {
				t.Errorf("a second copy of web in %s", s.servicesDir(p))
			}
		}
	}
	rec, err := s.Load("web")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Options["persistence"] != fmt.Sprint(want) {
		t.Errorf("the persistence option says %q, the files are persistent: %v", rec.Options["persistence"], want)
	}
	if rec.Address != "addr" || !rec.Enabled || len(rec.Clients) != 2 || rec.Client("ann").PrivateKey != "K1" || rec.Client("bob").PrivateKey != "K2" || rec.Options["title"] != "T" {
		t.Errorf("record after recovery: %+v", rec)
	}
	for name, b := range files {
		if name == "service.json" {
			continue
		}
		got, err := os.ReadFile(filepath.Join(s.ServiceDir("web"), name))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s after recovery: %d bytes, %v (want %d bytes)", name, len(got), err, len(b))
		}
	}
}

// TestMoveCrashAtEveryPoint stops a move at each of its fault points, both
// ways, opens the store again as a daemon start does, and checks one
// consistent state: before the switch the files stay where they were with
// the old option; after it they are in the new root with the new option.
func TestMoveCrashAtEveryPoint(t *testing.T) {
	for _, to := range []bool{true, false} {
		for i, point := range FaultPoints {
			t.Run(fmt.Sprintf("to-persistent=%v/%s", to, strings.TrimPrefix(point, "persistence-move:")), func(t *testing.T) {
				pdir, vdir := t.TempDir(), t.TempDir()
				s, err := Open(pdir, vdir)
				if err != nil {
					t.Fatal(err)
				}
				files := moveFixture(t, s, !to)
				hit := false
				s.Fault = func(p string) {
					if p == point {
						hit = true
						panic(crash{})
					}
				}
				func() {
					defer func() {
						if r := recover(); r != nil && r != (crash{}) {
							panic(r)
						}
					}()
					err = s.SetPersistent("web", to, "persistence", fmt.Sprint(to))
				}()
				if !hit {
					t.Fatalf("the move did not reach %s (err %v)", point, err)
				}
				s, err = Open(pdir, vdir)
				if err != nil {
					t.Fatal(err)
				}
				switched := i >= 3 // FaultSwitched and after
				want := !to
				if switched {
					want = to
				}
				checkOneConsistentState(t, s, want, files)
			})
		}
	}
}

// TestMoveWithoutFault moves both ways and leaves nothing but the files.
func TestMoveWithoutFault(t *testing.T) {
	pdir, vdir := t.TempDir(), t.TempDir()
	s, _ := Open(pdir, vdir)
	files := moveFixture(t, s, false)
	for _, to := range []bool{true, false, true} {
		if err := s.SetPersistent("web", to, "persistence", fmt.Sprint(to)); err != nil {
			t.Fatal(err)
		}
		checkOneConsistentState(t, s, to, files)
	}
}

// TestMoveRebootAfterSwitchToVolatile: the machine reboots after a move
// to the volatile root was switched and its source removal had begun
// (the volatile copy is gone with the reboot): what the user asked for
// stands, no half-removed persistent copy comes back.
func TestMoveRebootAfterSwitchToVolatile(t *testing.T) {
	pdir, vdir := t.TempDir(), t.TempDir()
	s, _ := Open(pdir, vdir)
	moveFixture(t, s, true)
	s.Fault = func(p string) {
		if p == FaultOptionSaved {
			// Part of the source's removal, then the crash.
			os.Remove(filepath.Join(pdir, "services", "web", "service.json"))
			panic(crash{})
		}
	}
	func() {
		defer func() { recover() }()
		s.SetPersistent("web", false, "persistence", "false")
	}()
	os.RemoveAll(vdir) // the reboot
	s, err := Open(pdir, vdir)
	if err != nil {
		t.Fatal(err)
	}
	if s.IsPersistent("web") {
		t.Fatal("a half-removed persistent copy came back after the reboot")
	}
	if ents, _ := os.ReadDir(filepath.Join(pdir, "services")); len(ents) != 0 {
		t.Fatalf("left in the persistent root: %v", ents)
	}
}

// TestOpenOldFormatInterruptedMoves starts on state that a version without
// journals left when killed in a move (it saved the persistence option in
// the source's record first, then copied, renamed the copy into place and
// removed the source): the complete copy is kept, in the root the option
// names. That version kept the persistent copy whenever its record said
// persistent, which deleted the finished copy on the way back, and the
// only complete one once the source's removal had taken its record.
func TestOpenOldFormatInterruptedMoves(t *testing.T) {
	for _, tc := range []struct {
		name string
		// partial removes files from the source, as a removal cut short.
		partial []string
	}{
		{name: "after the rename"},
		{name: "in the source's removal", partial: []string{"service.json", "data/www/index.html"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pdir, vdir := t.TempDir(), t.TempDir()
			s, _ := Open(pdir, vdir)
			files := moveFixture(t, s, true)
			// The old version's way to volatile: the option saved in the
			// source, the copy's record written with its new root.
			src := filepath.Join(pdir, "services", "web")
			rec, _ := readRecord(filepath.Join(src, "service.json"))
			rec.Options["persistence"] = "false"
			saveAt(t, filepath.Join(src, "service.json"), rec)
			dst := filepath.Join(vdir, "services", "web")
			if err := CopyTree(src, mkdir(t, dst)); err != nil {
				t.Fatal(err)
			}
			rec.Persistent = false
			saveAt(t, filepath.Join(dst, "service.json"), rec)
			for _, f := range tc.partial {
				os.Remove(filepath.Join(src, f))
			}
			s, err := Open(pdir, vdir)
			if err != nil {
				t.Fatal(err)
			}
			checkOneConsistentState(t, s, false, files)
		})
	}
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	return dir
}

// saveAt writes rec at path as the version without journals wrote it.
func saveAt(t *testing.T, path string, rec *Service) {
	t.Helper()
	b := []byte(fmt.Sprintf(`{"name":%q,"enabled":%v,"address":%q,"persistent":%v,"clients":[{"name":"ann","private_key":"K1","added":"1970-01-01T00:00:01Z"},{"name":"bob","private_key":"K2","added":"1970-01-01T00:00:02Z"}],"options":{"persistence":%q,"title":%q}}`,
		rec.Name, rec.Enabled, rec.Address, rec.Persistent, rec.Options["persistence"], rec.Options["title"]))
	if err := WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMoveThatFailsIsUndone moves web into a full destination (a 1 MB
// tmpfs) and into a read-only one: the move fails, and the files, the
// option and nothing else stay, the journal and the half-made copy gone.
func TestMoveThatFailsIsUndone(t *testing.T) {
	testenv.RequireRoot(t, "mounts a tmpfs and a read-only bind mount")
	for _, tc := range []struct {
		name  string
		mount [][]string
	}{
		{"full", [][]string{{"-t", "tmpfs", "-o", "size=1m,mode=0711", "tmpfs"}}},
		{"read-only", [][]string{{"--bind", "DIR"}, {"-o", "remount,bind,ro"}}},
	} {
		for _, to := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/to-persistent=%v", tc.name, to), func(t *testing.T) {
				pdir, vdir := t.TempDir(), t.TempDir()
				s, _ := Open(pdir, vdir)
				files := moveFixture(t, s, !to)
				dst := s.servicesDir(to)
				for _, m := range tc.mount {
					args := append([]string(nil), m...)
					for i := range args {
						if args[i] == "DIR" {
							args[i] = dst
						}
					}
					if out, err := exec.Command("mount", append(args, dst)...).CombinedOutput(); err != nil {
						t.Fatalf("mount %v: %v: %s", args, err, out)
					}
				}
				defer exec.Command("umount", "-l", dst).Run()
				err := s.SetPersistent("web", to, "persistence", fmt.Sprint(to))
				if err == nil || strings.Contains(err.Error(), "\n") {
					t.Fatalf("the move answered %v, want a one-line error", err)
				}
				t.Log(err)
				checkOneConsistentState(t, s, !to, files)
			})
		}
	}
}

package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tails-server/internal/testenv"
)

// TestCheckOwned: a root of another user's, one under a directory of
// another user's, and a root others can write are refused with a line
// naming the directory and the fix; root's own directories, one not yet
// created, one under a sticky /tmp-like directory, and one reached
// through a link are accepted.
func TestCheckOwned(t *testing.T) {
	testenv.RequireRoot(t, "directories of another user are made with chown")
	base := t.TempDir() // root's, 0700, under /tmp (sticky)
	mk := func(rel string, mode os.FileMode, uid int) string {
		p := filepath.Join(base, rel)
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const nobody = 65534
	good := mk("good", 0o711, 0)
	sticky := mk("sticky", os.ModeSticky|0o777, 0)
	mk("sticky/state", 0o700, 0)
	theirs := mk("theirs", 0o755, nobody)
	mk("theirs/state", 0o700, 0)
	mk("root-under-theirs", 0o755, 0)
	writable := mk("writable", 0o777, 0)
	mk("writable/state", 0o700, 0)
	link := filepath.Join(base, "link")
	if err := os.Symlink(theirs, link); err != nil {
		t.Fatal(err)
	}
	goodLink := filepath.Join(base, "good-link")
	if err := os.Symlink(good, goodLink); err != nil {
		t.Fatal(err)
	}

	for _, ok := range []string{good, filepath.Join(good, "not", "yet"), filepath.Join(sticky, "state"), goodLink} {
		if err := CheckOwned("state dir", ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, c := range []struct{ dir, want string }{
		{theirs, theirs + " belongs to nobody (uid 65534), who could change what the daemon trusts: chown root " + theirs},
		{filepath.Join(theirs, "state"), theirs + " belongs to nobody"},
		{filepath.Join(theirs, "new", "state"), theirs + " belongs to nobody"},
		{filepath.Join(link, "state"), theirs + " belongs to nobody"},
		{sticky, sticky + " is writable by other users (mode 1777): chmod go-w " + sticky},
		{filepath.Join(writable, "state"), writable + " is writable by other users (mode 0777)"},
	} {
		err := CheckOwned("state dir", c.dir)
		if err == nil {
			t.Errorf("%s accepted", c.dir)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "state dir "+c.dir+": ") {
			t.Errorf("%s: %q, want one line with %q", c.dir, msg, c.want)
		}
	}
}

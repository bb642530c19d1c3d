package install

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestInstalledFromDpkgStatus: what a service's packages are, installed or
// not, is what dpkg's status file says: all installed, one missing, none.
func TestInstalledFromDpkgStatus(t *testing.T) {
	in := &Installer{StatusFile: filepath.Join("testdata", "dpkg-status")}
	for _, c := range []struct {
		names   []string
		missing []string
	}{
		{[]string{"lighttpd", "prosody", "libfoo1"}, nil},    // all (hold counts; one arch of two)
		{[]string{"lighttpd", "ngircd"}, []string{"ngircd"}}, // one missing (config files left)
		{[]string{"mumble-server", "infinoted", "not-a-stanza", "no-such"}, []string{"mumble-server", "infinoted", "not-a-stanza", "no-such"}}, // none
	} {
		got, err := in.Missing(context.Background(), c.names)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.missing) {
			t.Errorf("Missing(%v) = %v, want %v", c.names, got, c.missing)
		}
		if in.Installed(c.names) != (len(c.missing) == 0) {
			t.Errorf("Installed(%v) = %v, want %v", c.names, !(len(c.missing) == 0), len(c.missing) == 0)
		}
	}
}

// TestInstalledFollowsTheStatusFile: once dpkg replaces its status file
// (as it does whenever a package's state changes), Installed says the new
// state; a missing status file means nothing is installed, not an error
// hidden as "installed".
func TestInstalledFollowsTheStatusFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "status")
	in := &Installer{StatusFile: path}
	if in.Installed([]string{"lighttpd"}) {
		t.Fatal("installed with no status file")
	}
	write := func(status string) {
		t.Helper()
		tmp := path + "-new"
		if err := os.WriteFile(tmp, []byte("Package: lighttpd\nStatus: "+status+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil { // as dpkg does
			t.Fatal(err)
		}
	}
	write("install ok unpacked")
	if in.Installed([]string{"lighttpd"}) {
		t.Fatal("unpacked lighttpd counted as installed")
	}
	write("install ok installed")
	if !in.Installed([]string{"lighttpd"}) {
		t.Fatal("lighttpd installed per the new status file, Installed says no")
	}
}

package install

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// TestInstallOfInstalledRunsNoAptGet: installing packages dpkg has
// already says "already installed" and runs no apt-get at all (found
// through PATH, as the daemon finds it); one missing package does run it.
func TestInstallOfInstalledRunsNoAptGet(t *testing.T) {
	dir := t.TempDir()
	calls := filepath.Join(dir, "apt-get-calls")
	fake := "#!/bin/sh\necho \"$*\" >>" + calls + "\n"
	if err := os.WriteFile(filepath.Join(dir, "apt-get"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	in := &Installer{StatusFile: filepath.Join("testdata", "dpkg-status"), PolicyRC: filepath.Join(dir, "policy-rc.d")}
	var steps []Progress
	if err := in.Install(context.Background(), []string{"lighttpd", "prosody"}, func(p Progress) { steps = append(steps, p) }); err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || steps[0].Stage != StageCheck || steps[0].Message != "lighttpd, prosody already installed" {
		t.Fatalf("steps %+v, want only the check: lighttpd, prosody already installed", steps)
	}
	if b, err := os.ReadFile(calls); err == nil {
		t.Fatalf("apt-get ran for installed packages: %q", b)
	}
	// ngircd is not installed: apt-get runs (and, being a fake, installs
	// nothing, which Install says).
	err := in.Install(context.Background(), []string{"lighttpd", "ngircd"}, nil)
	if err == nil || !strings.Contains(err.Error(), "ngircd is still not installed") {
		t.Fatalf("install of a missing package with a fake apt-get: %v", err)
	}
	if b, err := os.ReadFile(calls); err != nil || !strings.Contains(string(b), "install -y -q --no-install-recommends -- ngircd") {
		t.Fatalf("apt-get calls %q, %v: want one install of ngircd alone", b, err)
	}
}

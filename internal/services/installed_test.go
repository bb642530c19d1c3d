package services

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tails-server/internal/catalog"
	"tails-server/internal/store"
	catalogfs "tails-server/services"
)

// TestListSaysInstalled: `list` says a built-in service (web, fileshare)
// is installed before any enable, and a packaged one exactly when dpkg's
// status has every package of its description: all, one missing, none.
func TestListSaysInstalled(t *testing.T) {
	dir := t.TempDir()
	status := filepath.Join(dir, "status")
	// gobby needs infinoted and openssl: openssl is missing; irc's
	// ngircd left only its configuration files.
	stanzas := []string{
		"Package: lighttpd\nStatus: install ok installed",
		"Package: infinoted\nStatus: install ok installed",
		"Package: ngircd\nStatus: deinstall ok config-files",
		"Package: prosody\nStatus: hold ok installed",
	}
	if err := os.WriteFile(status, []byte(strings.Join(stanzas, "\n\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "state"), filepath.Join(dir, "volatile"))
	if err != nil {
		t.Fatal(err)
	}
	cat, errs := catalog.Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m, err := New(st, OneTor{T: countedTor{}}, cat, Options{DpkgStatus: status})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"web": true, "fileshare": true, "lighttpd": true, "xmpp": true,
		"gobby": false, "irc": false, "mumble": false, "sftp": false}
	got := map[string]bool{}
	for _, s := range m.List() {
		got[s.Name] = s.Installed
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s: installed = %v (listed: %v), want %v", name, g, ok, w)
		}
	}
	// dpkg installs openssl (it replaces its status file): gobby is
	// installed from the next list on, and info says the same.
	stanzas = append(stanzas, "Package: openssl\nStatus: install ok installed")
	if err := os.WriteFile(status+"-new", []byte(strings.Join(stanzas, "\n\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(status+"-new", status); err != nil {
		t.Fatal(err)
	}
	if s, err := m.Info("gobby", false, false); err != nil || !s.Installed {
		t.Fatalf("gobby after openssl is installed: installed = %v, %v", s.Installed, err)
	}
}

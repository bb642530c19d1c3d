package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tails-server/internal/testenv"
)

// TestListSaysInstalled: on a real daemon, before any enable, `list -o
// json` says web and fileshare (built-in) are installed and lighttpd is
// installed exactly as dpkg says; enabling the installed lighttpd says
// "already installed" and runs no apt-get (a fake one first in the
// daemon's PATH records any call).
func TestListSaysInstalled(t *testing.T) {
	requireNet(t)
	dpkgQuery := testenv.RequireProgram(t, "dpkg-query")
	testenv.RequireProgram(t, "lighttpd")
	fakeDir := t.TempDir()
	calls := filepath.Join(fakeDir, "calls")
	if err := os.WriteFile(filepath.Join(fakeDir, "apt-get"), []byte("#!/bin/sh\necho \"$*\" >>"+calls+"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", fakeDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	tmp := backendTempDir(t)
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))

	var list []struct {
		Name      string `json:"name"`
		Installed *bool  `json:"installed"`
	}
	if err := json.Unmarshal([]byte(d.mustCLI("-o", "json", "list")), &list); err != nil {
		t.Fatal(err)
	}
	st, _ := exec.Command(dpkgQuery, "-W", "-f=${db:Status-Status}", "lighttpd").Output()
	want := map[string]bool{"web": true, "fileshare": true, "lighttpd": string(st) == "installed"}
	for _, s := range list {
		w, ok := want[s.Name]
		if !ok {
			continue
		}
		delete(want, s.Name)
		if s.Installed == nil {
			t.Errorf("list -o json: %s has no installed, want %v", s.Name, w)
		} else if *s.Installed != w {
			t.Errorf("list -o json: %s installed = %v, want %v (dpkg says lighttpd is %q)", s.Name, *s.Installed, w, st)
		}
	}
	if len(want) > 0 {
		t.Fatalf("list -o json lacks %v", want)
	}
	if string(st) != "installed" {
		t.Fatalf("dpkg says lighttpd is %q: run scripts/deps.sh", st)
	}

	out, stderr, code := d.cli("enable", "lighttpd", "--wait", "240s")
	if code != 0 {
		t.Fatalf("enable lighttpd: exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "lighttpd: lighttpd already installed") || strings.Contains(stderr, "installing lighttpd") {
		t.Errorf("enable of an installed lighttpd, progress:\n%s", stderr)
	}
	if b, err := os.ReadFile(calls); err == nil {
		t.Errorf("enable of an installed lighttpd ran apt-get: %q", b)
	}
}

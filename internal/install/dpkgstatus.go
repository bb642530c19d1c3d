package install

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
)

// DpkgStatusFile is where dpkg keeps the state of every package.
const DpkgStatusFile = "/var/lib/dpkg/status"

// dpkgStatus is what dpkg's status file says is installed, read again
// only when the file changed: dpkg replaces it (a new file renamed over
// the old one) whenever a package's state changes, so a stat tells a
// change, and `list` of many services reads the file at most once.
type dpkgStatus struct {
	mu        sync.Mutex
	seen      os.FileInfo // the file the set was read from
	installed map[string]bool
}

// set returns the installed packages per the status file at path.
func (d *dpkgStatus) set(path string) (map[string]bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading dpkg's status: %w", err)
	}
	if d.seen != nil && os.SameFile(d.seen, fi) && d.seen.Size() == fi.Size() && d.seen.ModTime().Equal(fi.ModTime()) {
		return d.installed, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading dpkg's status: %w", err)
	}
	d.installed, d.seen = parseDpkgStatus(b), fi
	return d.installed, nil
}

// forget makes the next set read the file again.
func (d *dpkgStatus) forget() {
	d.mu.Lock()
	d.seen = nil
	d.mu.Unlock()
}

// parseDpkgStatus returns the packages whose stanza in a dpkg status file
// says "Status: WANT ok installed" (install, or hold). A package of
// several architectures counts as installed when one of them is.
func parseDpkgStatus(b []byte) map[string]bool {
	installed := map[string]bool{}
	var pkg string
	var ok bool
	end := func() {
		if pkg != "" && ok {
			installed[pkg] = true
		}
		pkg, ok = "", false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			end()
		case strings.HasPrefix(line, "Package:"):
			pkg = strings.TrimSpace(strings.TrimPrefix(line, "Package:"))
		case strings.HasPrefix(line, "Status:"):
			f := strings.Fields(strings.TrimPrefix(line, "Status:"))
			ok = len(f) == 3 && f[1] == "ok" && f[2] == "installed"
		}
	}
	end()
	return installed
}

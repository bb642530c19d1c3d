// Package install installs a service's Debian packages with apt-get and
// reports progress as it goes. It is idempotent: packages already installed
// are not touched, and nothing runs when all are. Progress comes from
// apt's machine-readable status stream (APT::Status-Fd), not from parsing
// its human output. Service starts by maintainer scripts are denied while
// it runs (a policy-rc.d that exits 101), because the daemon supervises
// every backend itself.
package install

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Progress is one step of an installation.
type Progress struct {
	// Percent is apt's overall progress (0–100) within the current stage.
	Percent float64 `json:"percent" yaml:"percent"`
	// Stage is StageCheck, "update", "download" or "install".
	Stage string `json:"stage" yaml:"stage"`
	// Package is the package being worked on, when known.
	Package string `json:"package,omitempty" yaml:"package,omitempty"`
	// Message is apt's description of the step.
	Message string `json:"message" yaml:"message"`
}

// StageCheck is the first step of every Install: what dpkg says is
// installed already, and what will be installed (Message says it).
const StageCheck = "check"

var packageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]{1,62}$`)

// ValidPackage reports whether name is a valid Debian package name.
func ValidPackage(name string) bool { return packageName.MatchString(name) }

// Installer runs apt-get.
type Installer struct {
	// AptGet and DpkgQuery (which lists a package's files) are the
	// programs used (defaults: apt-get, dpkg-query, through PATH); tests
	// may point them elsewhere.
	AptGet, DpkgQuery string
	// PolicyRC is the policy-rc.d path (default /usr/sbin/policy-rc.d).
	PolicyRC string
	// Systemctl disables and masks the packages' own units (default
	// systemctl).
	Systemctl string
	// UnitDir and InitDir are where installed systemd services and SysV
	// init scripts are (default /usr/lib/systemd/system and
	// /etc/init.d); tests may point them at fake ones.
	UnitDir, InitDir string
	// UnitsRecord is the file recording the system units Install
	// disabled (see replaceUnits), so that RestoreSystemUnits can put
	// back what the host had; "" leaves the system's units alone.
	UnitsRecord string
	// StatusFile is dpkg's status file, which says what is installed
	// (default DpkgStatusFile); tests may point it at a fake one.
	StatusFile string

	mu     sync.Mutex // one apt-get at a time
	status dpkgStatus
}

// Missing returns the packages of names that are not installed, per
// dpkg's status file (read again only when it changed).
func (in *Installer) Missing(ctx context.Context, names []string) ([]string, error) {
	for _, n := range names {
		if !ValidPackage(n) {
			return nil, fmt.Errorf("invalid Debian package name %q", n)
		}
	}
	installed, err := in.status.set(or(in.StatusFile, DpkgStatusFile))
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, n := range names {
		if !installed[n] {
			missing = append(missing, n)
		}
	}
	return missing, nil
}

// Installed reports whether every package of names is installed. It is
// cheap (a stat of dpkg's status file, unless the file changed): `list`
// asks it for every service.
func (in *Installer) Installed(names []string) bool {
	missing, err := in.Missing(context.Background(), names)
	return err == nil && len(missing) == 0
}

// Install installs the packages that are missing, calling progress for
// every step, the first of them StageCheck. It runs `apt-get update` first
// only if the install fails for lack of package lists. Then it keeps the
// packages' own system services from starting at boot (replaceUnits),
// saying so in StageUnits steps.
func (in *Installer) Install(ctx context.Context, names []string, progress func(Progress)) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	missing, err := in.Missing(ctx, names)
	if err != nil {
		return err
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	progress(Progress{Stage: StageCheck, Message: Plan(names, missing)})
	err = in.install(ctx, missing, progress)
	// Also when the packages were there already (installed by hand, or
	// by scripts/deps.sh) and when apt failed half-way: whatever is
	// installed must not start at boot.
	if uerr := in.replaceUnits(ctx, names, missing, progress); uerr != nil && err == nil {
		err = fmt.Errorf("keeping the system's own services of %s from starting at boot: %w", strings.Join(names, ", "), uerr)
	}
	return err
}

// install installs missing with apt-get, service starts denied.
func (in *Installer) install(ctx context.Context, missing []string, progress func(Progress)) error {
	if len(missing) == 0 {
		return nil
	}
	undo, err := in.denyServiceStarts()
	if err != nil {
		return err
	}
	defer undo()
	args := append([]string{"install", "-y", "-q", "--no-install-recommends", "--"}, missing...)
	err = in.aptGet(ctx, args, progress)
	if err != nil && strings.Contains(err.Error(), "Unable to locate package") {
		if uerr := in.aptGet(ctx, []string{"update", "-q"}, progress); uerr != nil {
			return uerr
		}
		err = in.aptGet(ctx, args, progress)
	}
	in.status.forget() // apt-get ran: read what it did
	if err != nil {
		return err
	}
	still, err := in.Missing(ctx, missing)
	if err == nil && len(still) > 0 {
		err = fmt.Errorf("apt-get finished but %s is still not installed", strings.Join(still, ", "))
	}
	return err
}

// Plan says what Install does with names when missing are not
// installed: "installing a, b", "a already installed", or both.
func Plan(names, missing []string) string {
	var have []string
	for _, n := range names {
		if !slices.Contains(missing, n) {
			have = append(have, n)
		}
	}
	switch {
	case len(missing) == 0:
		return strings.Join(have, ", ") + " already installed"
	case len(have) == 0:
		return "installing " + strings.Join(missing, ", ")
	}
	return "installing " + strings.Join(missing, ", ") + " (" + strings.Join(have, ", ") + " already installed)"
}

// denyServiceStarts installs a policy-rc.d denying service starts, unless
// one exists, and returns how to remove it.
func (in *Installer) denyServiceStarts() (func(), error) {
	path := or(in.PolicyRC, "/usr/sbin/policy-rc.d")
	if _, err := os.Stat(path); err == nil {
		return func() {}, nil
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n# written by tails-server while it installs packages\nexit 101\n"), 0o755); err != nil {
		return nil, fmt.Errorf("denying service starts during the install: %w", err)
	}
	return func() { os.Remove(path) }, nil
}

// aptGet runs apt-get with its status stream on fd 3.
func (in *Installer) aptGet(ctx context.Context, args []string, progress func(Progress)) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pr.Close()
	full := append([]string{"-o", "APT::Status-Fd=3", "-o", "Dpkg::Use-Pty=0"}, args...)
	cmd := exec.CommandContext(ctx, or(in.AptGet, "apt-get"), full...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	cmd.ExtraFiles = []*os.File{pw}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	stage := "install"
	if len(args) > 0 && args[0] == "update" {
		stage = "update"
	}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return fmt.Errorf("apt-get not available: %w", err)
	}
	pw.Close()
	read := make(chan struct{})
	go func() {
		defer close(read)
		ParseStatus(pr, stage, progress)
	}()
	err = cmd.Wait()
	<-read
	if err != nil {
		return fmt.Errorf("apt-get %s failed: %s", args[0], lastLine(out.String()))
	}
	return nil
}

// ParseStatus reads apt's status stream (APT::Status-Fd) and calls
// progress for each step: "pmstatus:PKG:PERCENT:MESSAGE",
// "dlstatus:...", and errors ("pmerror:...") as messages.
func ParseStatus(r io.Reader, stage string, progress func(Progress)) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		kind, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		pkg, rest, _ := strings.Cut(rest, ":")
		pct, msg, _ := strings.Cut(rest, ":")
		p := Progress{Stage: stage, Package: pkg, Message: msg}
		switch kind {
		case "dlstatus":
			p.Stage = "download"
		case "pmstatus":
			if stage != "update" {
				p.Stage = "install"
			}
		case "pmerror", "pmconffile", "media-change":
			p.Message = kind + ": " + rest
		default:
			continue
		}
		if v, err := strconv.ParseFloat(pct, 64); err == nil {
			p.Percent = v
		}
		progress(p)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return "no output"
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

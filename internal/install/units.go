package install

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"tails-server/internal/store"
)

// StageUnits is a step saying what Install did to the system's own
// services of the packages (see replaceUnits): a sentence, no percentage.
const StageUnits = "units"

// A package such as ngircd or openssh-server comes with the system's own
// service, enabled by its maintainer scripts: at the next boot it would
// start with the package's default configuration, listening on the LAN,
// beside the backend the daemon runs with its own configuration. So after
// installing, Install disables and masks every such unit (systemd's and
// the SysV init script's links, both, through systemctl, which works
// without systemd running), and records what it changed, so that
// RestoreSystemUnits puts back what the host had.
//
// A unit the host runs right now is the host's own: an operator may reach
// the machine through that very sshd. It is left enabled, with a warning.

// unitRecord is what Install changed about one system unit.
type unitRecord struct {
	Unit    string `json:"unit"`
	Package string `json:"package"`
	// HostHad is true when the unit was enabled before this install:
	// the package was installed already. RestoreSystemUnits enables such
	// a unit again; one only this install enabled stays off.
	HostHad bool `json:"host_had"`
}

// unitsState is the record file: the units Install disabled and masked.
type unitsState struct {
	Units []unitRecord `json:"units"`
}

var (
	unitFile = regexp.MustCompile(`^(?:/usr)?/lib/systemd/system/([^/@]+\.(?:service|socket|timer|path))$`)
	initFile = regexp.MustCompile(`^/etc/init\.d/([a-zA-Z0-9][a-zA-Z0-9._-]*)$`)
)

// packageUnits returns the system units of a package: those it ships
// (its systemd units, not templates, and, as NAME.service, its SysV init
// scripts), and those another package ships to run one of its programs
// (Debian's nginx.service is in nginx-common, /usr/sbin/nginx in nginx),
// each with the init script's name when it has one.
func (in *Installer) packageUnits(ctx context.Context, pkg string) (map[string]string, error) {
	out, err := exec.CommandContext(ctx, or(in.DpkgQuery, "dpkg-query"), "-L", "--", pkg).Output()
	if err != nil {
		return nil, fmt.Errorf("listing the files of %s: %w", pkg, err)
	}
	units := map[string]string{} // unit -> init script name ("" if none)
	var programs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := unitFile.FindStringSubmatch(sc.Text()); m != nil {
			if _, ok := units[m[1]]; !ok {
				units[m[1]] = ""
			}
		} else if m := initFile.FindStringSubmatch(sc.Text()); m != nil && m[1] != "README" && m[1] != "skeleton" {
			units[m[1]+".service"] = m[1]
		} else if programFile.MatchString(sc.Text()) {
			programs = append(programs, sc.Text())
		}
	}
	for u, script := range in.unitsRunning(programs) {
		if _, ok := units[u]; !ok || script != "" {
			units[u] = script
		}
	}
	return units, nil
}

// programFile matches the programs a package ships.
var programFile = regexp.MustCompile(`^(?:/usr)?/s?bin/[^/]+$`)

// unitsRunning returns the installed systemd services whose ExecStart runs
// one of programs, and the SysV init scripts that name one (as
// NAME.service, with the script's name).
func (in *Installer) unitsRunning(programs []string) map[string]string {
	units := map[string]string{}
	if len(programs) == 0 {
		return units
	}
	// With merged /usr, /sbin/x and /usr/sbin/x are one program.
	names := map[string]bool{}
	for _, p := range programs {
		p = strings.TrimPrefix(p, "/usr")
		names[p], names["/usr"+p] = true, true
	}
	dirs := []string{"/usr/lib/systemd/system", "/lib/systemd/system"} // one with merged /usr
	if in.UnitDir != "" {
		dirs = []string{in.UnitDir}
	}
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.service"))
		for _, f := range files {
			u := filepath.Base(f)
			if _, seen := units[u]; seen || strings.Contains(u, "@") {
				continue
			}
			for _, line := range strings.Split(readSmall(f), "\n") {
				key, cmd, ok := strings.Cut(strings.TrimSpace(line), "=")
				if !ok || key != "ExecStart" {
					continue
				}
				// Prefixes: - @ : + ! say how it runs, not what.
				if f := strings.Fields(strings.TrimLeft(cmd, "-@:+!")); len(f) > 0 && names[f[0]] {
					units[u] = ""
				}
			}
		}
	}
	scripts, _ := filepath.Glob(filepath.Join(or(in.InitDir, "/etc/init.d"), "*"))
	for _, f := range scripts {
		name := filepath.Base(f)
		if !initFile.MatchString("/etc/init.d/"+name) || name == "README" || name == "skeleton" {
			continue
		}
		text := readSmall(f)
		for p := range names {
			if containsWord(text, p) {
				units[name+".service"] = name
			}
		}
	}
	return units
}

// readSmall returns the text of a system file of at most 256 KiB ("" if
// it is not one).
func readSmall(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	b := make([]byte, 256<<10)
	n, _ := io.ReadFull(f, b)
	return string(b[:n])
}

// containsWord reports whether text holds path not followed by a letter,
// digit or one of . _ - (so /usr/sbin/nginx is not /usr/sbin/nginx-debug).
func containsWord(text, path string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], path)
		if j < 0 {
			return false
		}
		end := i + j + len(path)
		if end == len(text) || !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/", rune(text[end])) {
			return true
		}
		i = end
	}
}

// enabled reports whether unit starts at boot: systemctl says so, or its
// init script has a start link in a runlevel.
func (in *Installer) enabled(ctx context.Context, unit, script string) bool {
	out, _ := exec.CommandContext(ctx, in.systemctl(), "is-enabled", "--", unit).Output()
	if state := strings.TrimSpace(firstLineOf(string(out))); state == "enabled" {
		return true
	}
	if script == "" {
		return false
	}
	links, _ := filepath.Glob(filepath.Join("/etc", "rc[0-6S].d", "S[0-9][0-9]"+script))
	return len(links) > 0
}

// running reports whether the host runs one of units now: through
// systemd when it is the init system, otherwise through the init
// scripts' status (LSB: 0 is running).
func (in *Installer) running(ctx context.Context, units map[string]string) bool {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		for u := range units {
			if exec.CommandContext(ctx, in.systemctl(), "is-active", "--quiet", "--", u).Run() == nil {
				return true
			}
		}
		return false
	}
	for _, script := range units {
		if script != "" && exec.CommandContext(ctx, filepath.Join("/etc/init.d", script), "status").Run() == nil {
			return true
		}
	}
	return false
}

// replaceUnits disables and masks the enabled units of packages (those of
// missing were enabled by this install; the others the host had), records
// it before changing anything, and says what it did through progress.
func (in *Installer) replaceUnits(ctx context.Context, packages, missing []string, progress func(Progress)) error {
	if in.UnitsRecord == "" {
		return nil
	}
	if _, err := exec.LookPath(in.systemctl()); err != nil {
		return nil // no systemd: no unit to start at boot through it
	}
	var todo []unitRecord
	for _, pkg := range packages {
		if still, err := in.Missing(ctx, []string{pkg}); err != nil || len(still) > 0 {
			continue // not installed: nothing of it starts
		}
		units, err := in.packageUnits(ctx, pkg)
		if err != nil {
			return err
		}
		var on []string
		for _, u := range slices.Sorted(maps.Keys(units)) {
			if in.enabled(ctx, u, units[u]) {
				on = append(on, u)
			}
		}
		if len(on) == 0 {
			continue
		}
		hostHad := !slices.Contains(missing, pkg)
		if hostHad && in.running(ctx, units) {
			for _, u := range on {
				progress(Progress{Stage: StageUnits, Package: pkg, Message: fmt.Sprintf(
					"warning: the system's own %s (%s) was left enabled, because %s's daemon runs on this computer (it may be how you reach it): "+
						"it listens with the system's configuration, not this service's (if nothing needs it: systemctl disable --now %s)", unitTitle(u), u, pkg, u)})
			}
			continue
		}
		for _, u := range on {
			todo = append(todo, unitRecord{Unit: u, Package: pkg, HostHad: hostHad})
		}
	}
	if len(todo) == 0 {
		return nil
	}
	st, err := in.loadUnits()
	if err != nil {
		return err
	}
	for _, c := range todo {
		st.Units = slices.DeleteFunc(st.Units, func(r unitRecord) bool { return r.Unit == c.Unit })
		st.Units = append(st.Units, c)
	}
	// Recorded first: a kill after this loses nothing that remove should
	// put back.
	if err := in.saveUnits(st); err != nil {
		return err
	}
	for _, c := range todo {
		for _, verb := range []string{"disable", "mask"} {
			if out, err := exec.CommandContext(ctx, in.systemctl(), verb, "--", c.Unit).CombinedOutput(); err != nil {
				return fmt.Errorf("systemctl %s %s: %s", verb, c.Unit, lastLine(string(out)))
			}
		}
		progress(Progress{Stage: StageUnits, Package: c.Package, Message: fmt.Sprintf(
			"note: disabled the system's own %s (%s) so that it does not start at boot with its default configuration", unitTitle(c.Unit), c.Unit)})
	}
	return nil
}

// RestoreSystemUnits undoes, for the units of packages, what Install did:
// a unit the host had enabled before is unmasked and enabled again; one
// that only an install of the daemon enabled stays disabled and masked.
// It returns what it did, a sentence a unit.
func (in *Installer) RestoreSystemUnits(ctx context.Context, packages []string) ([]string, error) {
	if in.UnitsRecord == "" {
		return nil, nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	st, err := in.loadUnits()
	if err != nil {
		return nil, err
	}
	var done []string
	var keep []unitRecord
	for _, r := range st.Units {
		if !slices.Contains(packages, r.Package) {
			keep = append(keep, r)
			continue
		}
		if !r.HostHad {
			done = append(done, fmt.Sprintf("left the system's own %s (%s) disabled and masked, as before %s was installed for this service", unitTitle(r.Unit), r.Unit, r.Package))
			continue
		}
		for _, verb := range []string{"unmask", "enable"} {
			if out, err := exec.CommandContext(ctx, in.systemctl(), verb, "--", r.Unit).CombinedOutput(); err != nil {
				return done, fmt.Errorf("systemctl %s %s: %s", verb, r.Unit, lastLine(string(out)))
			}
		}
		done = append(done, fmt.Sprintf("enabled the system's own %s (%s) again, as it was before", unitTitle(r.Unit), r.Unit))
	}
	st.Units = keep
	return done, in.saveUnits(st)
}

func (in *Installer) loadUnits() (unitsState, error) {
	var st unitsState
	b, err := os.ReadFile(in.UnitsRecord)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", in.UnitsRecord, err)
	}
	return st, nil
}

func (in *Installer) saveUnits(st unitsState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(in.UnitsRecord), 0o700); err != nil {
		return err
	}
	return store.WriteFile(in.UnitsRecord, append(b, '\n'), 0o600)
}

func (in *Installer) systemctl() string { return or(in.Systemctl, "systemctl") }

// unitTitle names a unit for people: "ngircd service", "ssh socket".
func unitTitle(unit string) string {
	i := strings.LastIndexByte(unit, '.')
	if i < 0 {
		return unit
	}
	return unit[:i] + " " + unit[i+1:]
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

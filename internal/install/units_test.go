package install

import (
	"context"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tails-server/internal/catalog"
	"tails-server/internal/testenv"
	catalogfs "tails-server/services"
)

// unitState is what `systemctl is-enabled` says of unit (offline: it
// reads the links, systemd need not run).
func unitState(unit string) string {
	out, _ := exec.Command("systemctl", "is-enabled", "--", unit).Output()
	return strings.TrimSpace(firstLineOf(string(out)))
}

func systemctl(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("systemctl", args...).CombinedOutput(); err != nil {
		t.Fatalf("systemctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// hostUnits enables every unit of packages, as a Debian host has them
// once the packages are installed (by apt-get, or scripts/deps.sh), and
// puts back, after the test, the state each had before it.
func hostUnits(t *testing.T, in *Installer, packages []string) map[string]map[string]string {
	t.Helper()
	all := map[string]map[string]string{}
	for _, pkg := range packages {
		units, err := in.packageUnits(context.Background(), pkg)
		if err != nil {
			t.Fatal(err)
		}
		all[pkg] = units
		for u := range units {
			before := unitState(u)
			if before == "static" || before == "indirect" || before == "generated" || before == "alias" {
				delete(units, u) // nothing to enable: it never starts at boot on its own
				continue
			}
			t.Cleanup(func() {
				switch before {
				case "enabled":
					exec.Command("systemctl", "unmask", u).Run()
					exec.Command("systemctl", "enable", u).Run()
				case "masked":
					exec.Command("systemctl", "mask", u).Run()
				default:
					exec.Command("systemctl", "unmask", u).Run()
					exec.Command("systemctl", "disable", u).Run()
				}
			})
			systemctl(t, "unmask", u)
			systemctl(t, "enable", u)
			if s := unitState(u); s != "enabled" {
				t.Fatalf("%s: %s after systemctl enable", u, s)
			}
		}
	}
	return all
}

// startLinks are the links that start unit at boot: systemd's
// *.wants/ links and the SysV start links of its init script.
func startLinks(unit, script string) []string {
	links, _ := filepath.Glob(filepath.Join("/etc/systemd/system", "*.wants", unit))
	if script != "" {
		s, _ := filepath.Glob(filepath.Join("/etc", "rc[0-6S].d", "S[0-9][0-9]"+script))
		links = append(links, s...)
	}
	return links
}

func requireUnitsOff(t *testing.T, when string, units map[string]string) {
	t.Helper()
	for u, script := range units {
		if s := unitState(u); s != "masked" {
			t.Errorf("%s: %s is %s, want masked", when, u, s)
		}
		if l := startLinks(u, script); len(l) > 0 {
			t.Errorf("%s: %s still starts at boot: %s", when, u, strings.Join(l, " "))
		}
	}
}

func unitSteps(steps []Progress) string {
	var b strings.Builder
	for _, s := range steps {
		if s.Stage == StageUnits {
			b.WriteString(s.Message + "\n")
		}
	}
	return b.String()
}

// TestCatalogPackagesDoNotStartAtBoot: after the installer's step for
// each catalog service (its packages installed already, their units
// enabled, as scripts/deps.sh or apt-get leave them), no unit of them
// starts at boot (masked, no *.wants/ or rc?.d/S* link), and the step
// says so; removing puts back what the host had; enabling again leaves
// them off again.
func TestCatalogPackagesDoNotStartAtBoot(t *testing.T) {
	testenv.RequireRoot(t, "this test changes the system's units")
	testenv.RequireProgram(t, "systemctl")
	testenv.RequireProgram(t, "dpkg-query")
	cat, errs := catalog.Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	in := &Installer{UnitsRecord: filepath.Join(t.TempDir(), "system-units.json")}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tested := 0
	for _, name := range cat.Names() {
		def, _ := cat.Get(name)
		if len(def.Packages) == 0 {
			continue
		}
		if missing, _ := in.Missing(ctx, def.Packages); len(missing) > 0 {
			if testenv.InCI() {
				t.Fatalf("%s: %v not installed (scripts/deps.sh test installs them)", name, missing)
			}
			t.Logf("%s: %v not installed, skipped", name, missing)
			continue
		}
		t.Run(name, func(t *testing.T) {
			all := hostUnits(t, in, def.Packages)
			// A daemon the host runs itself (a CI machine's sshd) is left
			// enabled, with a warning: TestRunningHostUnitLeftEnabled.
			runs := map[string]bool{}
			for pkg, units := range all {
				runs[pkg] = len(units) > 0 && in.running(ctx, units)
			}
			var steps []Progress
			if err := in.Install(ctx, def.Packages, func(p Progress) { steps = append(steps, p) }); err != nil {
				t.Fatal(err)
			}
			said := unitSteps(steps)
			for pkg, units := range all {
				if runs[pkg] {
					t.Logf("%s: the host runs its daemon: its units stay enabled", pkg)
					for u := range units {
						if s := unitState(u); s != "enabled" || !strings.Contains(said, "("+u+") was left enabled, because "+pkg+"'s daemon runs on this computer") {
							t.Errorf("%s: the host runs it, yet it is %s and the steps say:\n%s", u, s, said)
						}
					}
					continue
				}
				requireUnitsOff(t, "after enable", units)
				for u := range units {
					tested++
					if want := "disabled the system's own " + unitTitle(u) + " (" + u + ") so that it does not start at boot with its default configuration"; !strings.Contains(said, want) {
						t.Errorf("%s: the install's steps do not say %q:\n%s", pkg, want, said)
					}
				}
			}

			// Whatever package ships it, no unit that runs the backend's
			// program may start at boot: read from the units themselves.
			if len(def.Backend.Command) > 0 {
				if prog, err := exec.LookPath(def.Backend.Command[0]); err == nil {
					for _, u := range unitsStarting(t, prog) {
						if s := unitState(u); s == "enabled" && !runsAny(runs) {
							t.Errorf("%s runs %s and is %s after the install", u, prog, s)
						}
					}
				}
			}

			// remove: the host had them enabled, they are again.
			done, err := in.RestoreSystemUnits(ctx, def.Packages)
			if err != nil {
				t.Fatal(err)
			}
			for _, units := range all {
				for u := range units {
					if s := unitState(u); s != "enabled" {
						t.Errorf("after remove: %s is %s, want enabled as the host had it (remove said %q)", u, s, done)
					}
				}
			}

			// enable again: off again.
			steps = nil
			if err := in.Install(ctx, def.Packages, func(p Progress) { steps = append(steps, p) }); err != nil {
				t.Fatal(err)
			}
			for pkg, units := range all {
				if !runs[pkg] {
					requireUnitsOff(t, "after the second enable", units)
				}
			}
			// And a third enable has nothing left to do.
			steps = nil
			if err := in.Install(ctx, def.Packages, func(p Progress) { steps = append(steps, p) }); err != nil || strings.Contains(unitSteps(steps), "disabled") {
				t.Errorf("third enable: %v, steps:\n%s", err, unitSteps(steps))
			}
		})
	}
	if tested < 4 {
		t.Fatalf("only %d units turned off: the catalog's packages ship lighttpd, ngircd, ssh, prosody and mumble-server's", tested)
	}
}

// TestRunningHostUnitLeftEnabled: openssh-server's ssh.service may be how
// the operator reaches this computer. While the host's own sshd runs (a
// real one, its pid in /run/sshd.pid where the init script looks), the
// installer leaves the package's units enabled and warns; once it no
// longer runs, they are disabled.
func TestRunningHostUnitLeftEnabled(t *testing.T) {
	testenv.RequireRoot(t, "this test changes the system's units")
	testenv.RequireProgram(t, "systemctl")
	sshd := testenv.RequireProgram(t, "sshd")
	keygen := testenv.RequireProgram(t, "ssh-keygen")
	in := &Installer{UnitsRecord: filepath.Join(t.TempDir(), "system-units.json")}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		// systemd is init: the host's sshd is ssh.service. If it runs
		// (a CI machine's), the installer must leave it be.
		if exec.Command("systemctl", "is-active", "--quiet", "ssh.service").Run() != nil {
			t.Skip("systemd is init and runs no ssh.service: nothing to start a host sshd by hand for")
		}
		all := hostUnits(t, in, []string{"openssh-server"})
		var steps []Progress
		if err := in.Install(context.Background(), []string{"openssh-server"}, func(p Progress) { steps = append(steps, p) }); err != nil {
			t.Fatal(err)
		}
		for u := range all["openssh-server"] {
			if s := unitState(u); s != "enabled" {
				t.Errorf("the host's sshd runs, yet %s is %s: the operator would be locked out at the next boot", u, s)
			}
		}
		return
	}
	if _, err := os.Stat("/run/sshd.pid"); err == nil {
		t.Fatal("/run/sshd.pid exists: a system sshd runs already")
	}
	all := hostUnits(t, in, []string{"openssh-server"})
	units := all["openssh-server"]
	if _, ok := units["ssh.service"]; !ok {
		t.Fatalf("openssh-server ships no ssh.service: %v", units)
	}

	dir := t.TempDir()
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "host_key")).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	os.MkdirAll("/run/sshd", 0o755)
	cmd := exec.Command(sshd, "-D", "-f", "/dev/null", "-h", filepath.Join(dir, "host_key"), "-o", "ListenAddress="+addr, "-o", "PidFile=/run/sshd.pid")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			cmd.Process.Kill()
			cmd.Wait()
			os.Remove("/run/sshd.pid")
			stopped = true
		}
	}
	defer stop()
	for deadline := time.Now().Add(time.Minute); exec.Command("/etc/init.d/ssh", "status").Run() != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the host's sshd did not come up")
		}
	}

	ctx := context.Background()
	var steps []Progress
	if err := in.Install(ctx, []string{"openssh-server"}, func(p Progress) { steps = append(steps, p) }); err != nil {
		t.Fatal(err)
	}
	if s := unitState("ssh.service"); s != "enabled" {
		t.Errorf("with the host's sshd running, ssh.service is %s: the operator would be locked out at the next boot", s)
	}
	want := "warning: the system's own ssh service (ssh.service) was left enabled, because openssh-server's daemon runs on this computer (it may be how you reach it): it listens with the system's configuration, not this service's"
	if said := unitSteps(steps); !strings.Contains(said, want) {
		t.Errorf("the install does not warn %q:\n%s", want, said)
	}
	// Left alone: remove has nothing to put back.
	if done, err := in.RestoreSystemUnits(ctx, []string{"openssh-server"}); err != nil || len(done) > 0 || unitState("ssh.service") != "enabled" {
		t.Errorf("remove after a unit left alone: %q, %v, ssh.service %s", done, err, unitState("ssh.service"))
	}

	stop()
	steps = nil
	if err := in.Install(ctx, []string{"openssh-server"}, func(p Progress) { steps = append(steps, p) }); err != nil {
		t.Fatal(err)
	}
	requireUnitsOff(t, "once the host's sshd no longer runs", units)
}

// TestNewPackageUnitStaysOff installs, through the installer, a package
// the host did not have whose maintainer script enables its unit (as
// debhelper's do). The installer disables and masks it; remove leaves it
// so, since the host never had it enabled.
func TestNewPackageUnitStaysOff(t *testing.T) {
	testenv.RequireRoot(t, "this test installs a package")
	testenv.RequireProgram(t, "systemctl")
	testenv.RequireProgram(t, "dpkg-deb")
	testenv.RequireProgram(t, "deb-systemd-helper")
	const pkg, unit = "tails-server-test-unit", "tails-server-test-unit.service"
	dir := t.TempDir()
	root := filepath.Join(dir, "pkg")
	files := map[string]string{
		"DEBIAN/control": "Package: " + pkg + "\nVersion: 1.0\nArchitecture: all\nMaintainer: tails-server tests <root@localhost>\nDescription: a daemon enabled at install, for tails-server's tests\n",
		"DEBIAN/postinst": "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then deb-systemd-helper unmask " + unit + " >/dev/null || true\n" +
			"if deb-systemd-helper --quiet was-enabled " + unit + "; then deb-systemd-helper enable " + unit + " >/dev/null || true; else deb-systemd-helper update-state " + unit + " >/dev/null || true; fi\nfi\n",
		"DEBIAN/postrm":              "#!/bin/sh\nset -e\nif [ \"$1\" = purge ]; then deb-systemd-helper purge " + unit + " >/dev/null || true; deb-systemd-helper unmask " + unit + " >/dev/null || true; fi\n",
		"lib/systemd/system/" + unit: "[Unit]\nDescription=tails-server test daemon\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
	}
	for name, text := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		mode := os.FileMode(0o644)
		if strings.HasPrefix(name, "DEBIAN/post") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(dir, pkg+".deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", root, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, out)
	}
	purge := func() {
		exec.Command("systemctl", "unmask", unit).Run()
		exec.Command("dpkg", "--purge", pkg).Run()
	}
	purge()
	t.Cleanup(purge)
	// apt-get, here, installs that file (the package is in no archive).
	fakeApt := filepath.Join(dir, "apt-get")
	if err := os.WriteFile(fakeApt, []byte("#!/bin/sh\nexec dpkg -i "+deb+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	in := &Installer{AptGet: fakeApt, UnitsRecord: filepath.Join(dir, "system-units.json")}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var steps []Progress
	if err := in.Install(ctx, []string{pkg}, func(p Progress) { steps = append(steps, p) }); err != nil {
		t.Fatal(err)
	}
	if steps[0].Message != "installing "+pkg {
		t.Fatalf("first step %+v, want the install", steps[0])
	}
	units := map[string]string{unit: ""}
	requireUnitsOff(t, "after enable", units)
	if want := "disabled the system's own tails-server-test-unit service (" + unit + ")"; !strings.Contains(unitSteps(steps), want) {
		t.Errorf("steps do not say %q:\n%s", want, unitSteps(steps))
	}
	done, err := in.RestoreSystemUnits(ctx, []string{pkg})
	if err != nil {
		t.Fatal(err)
	}
	requireUnitsOff(t, "after remove", units)
	if len(done) != 1 || !strings.Contains(done[0], "left the system's own tails-server-test-unit service") {
		t.Errorf("remove said %q", done)
	}
	steps = nil
	if err := in.Install(ctx, []string{pkg}, func(p Progress) { steps = append(steps, p) }); err != nil {
		t.Fatal(err)
	}
	requireUnitsOff(t, "after the second enable", units)
	if !slices.ContainsFunc(steps, func(p Progress) bool { return p.Message == pkg+" already installed" }) {
		t.Errorf("second enable: %+v", steps)
	}
}

// unitsStarting lists the installed systemd services whose ExecStart runs
// prog, and the init scripts that set DAEMON to it.
func unitsStarting(t *testing.T, prog string) []string {
	t.Helper()
	var units []string
	files, _ := filepath.Glob("/usr/lib/systemd/system/*.service")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "ExecStart=") && strings.Fields(strings.TrimLeft(strings.TrimPrefix(l, "ExecStart="), "-@:+!") + " x")[0] == prog {
				units = append(units, filepath.Base(f))
			}
		}
	}
	scripts, _ := filepath.Glob("/etc/init.d/*")
	for _, f := range scripts {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "DAEMON="+prog+"\n") {
			units = append(units, filepath.Base(f)+".service")
		}
	}
	return units
}

// TestUnitsOfAnotherPackage: a unit that runs a package's program counts
// as the package's even when another package ships it (nginx.service is in
// nginx-common, /usr/sbin/nginx in nginx); /usr/sbin/nginx-debug is not
// /usr/sbin/nginx.
func TestUnitsOfAnotherPackage(t *testing.T) {
	dir := t.TempDir()
	unitDir, initDir := filepath.Join(dir, "units"), filepath.Join(dir, "init.d")
	os.MkdirAll(unitDir, 0o755)
	os.MkdirAll(initDir, 0o755)
	write := func(p, text string) {
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(unitDir, "nginx.service"), "[Service]\nExecStartPre=/usr/sbin/nginx -t\nExecStart=/usr/sbin/nginx -g 'daemon on;'\n")
	write(filepath.Join(unitDir, "nginx-debug.service"), "[Service]\nExecStart=/usr/sbin/nginx-debug\n")
	write(filepath.Join(unitDir, "other.service"), "[Service]\nExecStart=-/usr/bin/other --nginx /usr/sbin/nginx\n")
	write(filepath.Join(unitDir, "minus.service"), "[Service]\nExecStart=-/sbin/nginx\n")
	write(filepath.Join(initDir, "nginx"), "#!/bin/sh\nDAEMON=/usr/sbin/nginx\n")
	write(filepath.Join(initDir, "nginx-debug"), "#!/bin/sh\nDAEMON=/usr/sbin/nginx-debug\n")
	dpkg := filepath.Join(dir, "dpkg-query")
	write(dpkg, "#!/bin/sh\nprintf '/.\\n/usr/sbin/nginx\\n/usr/share/doc/nginx/copyright\\n'\n")
	in := &Installer{DpkgQuery: dpkg, UnitDir: unitDir, InitDir: initDir}
	got, err := in.packageUnits(context.Background(), "nginx")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"nginx.service": "nginx", "minus.service": ""}
	if !maps.Equal(got, want) {
		t.Fatalf("units of nginx: %v, want %v", got, want)
	}
}

func runsAny(runs map[string]bool) bool {
	for _, r := range runs {
		if r {
			return true
		}
	}
	return false
}

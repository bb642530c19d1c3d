package install

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"tails-server/internal/testenv"
)

func TestParseStatus(t *testing.T) {
	stream := `dlstatus:1:0:Retrieving file 1 of 1
dlstatus:1:45.5:Retrieving file 1 of 1
pmstatus:hello:20:Preparing hello (amd64)
pmstatus:hello:60:Unpacking hello (amd64)
pmstatus:hello:100:Installed hello (amd64)
pmerror:/var/cache/apt/archives/x.deb:50:trying to overwrite
garbage line
`
	var got []Progress
	ParseStatus(strings.NewReader(stream), "install", func(p Progress) { got = append(got, p) })
	if len(got) != 6 {
		t.Fatalf("got %d steps: %+v", len(got), got)
	}
	if got[1].Stage != "download" || got[1].Percent != 45.5 {
		t.Errorf("download step %+v", got[1])
	}
	if got[4].Package != "hello" || got[4].Percent != 100 || got[4].Stage != "install" {
		t.Errorf("install step %+v", got[4])
	}
	if !strings.HasPrefix(got[5].Message, "pmerror: ") {
		t.Errorf("error step %+v", got[5])
	}
}

func TestRefusesBadPackageNames(t *testing.T) {
	var in Installer
	for _, bad := range []string{"", "-o", "a b", "x;rm", "Upper", "pkg\n", "a/b"} {
		if _, err := in.Missing(context.Background(), []string{bad}); err == nil {
			t.Errorf("package name %q accepted", bad)
		}
	}
}

// TestInstallRealPackage installs Debian's tiny `hello` package for real
// (removing it first if present), with progress, then checks that a
// second install is a no-op.
func TestInstallRealPackage(t *testing.T) {
	testenv.RequireProgram(t, "apt-get")
	testenv.RequireRoot(t, "this test installs a package")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	exec.CommandContext(ctx, "apt-get", "remove", "-y", "-q", "hello").Run()
	in := &Installer{}
	missing, err := in.Missing(ctx, []string{"hello"})
	if err != nil || len(missing) != 1 {
		t.Fatalf("missing = %v, %v", missing, err)
	}
	var steps []Progress
	if err := in.Install(ctx, []string{"hello"}, func(p Progress) { steps = append(steps, p) }); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("hello").Output(); err != nil || !strings.Contains(string(out), "Hello, world!") {
		t.Fatalf("hello after install: %q %v", out, err)
	}
	sawInstall := false
	for _, s := range steps {
		if s.Stage == "install" && s.Package == "hello" {
			sawInstall = true
		}
	}
	if !sawInstall {
		t.Fatalf("no install progress for hello: %+v", steps)
	}
	if steps[0].Stage != StageCheck || steps[0].Message != "installing hello" {
		t.Fatalf("first step %+v, want the check saying it installs hello", steps[0])
	}
	// Installed now: the check says so, and apt-get does not run.
	steps = nil
	if err := in.Install(ctx, []string{"hello"}, func(p Progress) { steps = append(steps, p) }); err != nil || len(steps) != 1 ||
		steps[0].Stage != StageCheck || steps[0].Message != "hello already installed" {
		t.Fatalf("second install: %v, steps %+v (want only the check: hello already installed)", err, steps)
	}
	if err := in.Install(ctx, []string{"no-such-package-tails-server"}, nil); err == nil || strings.Count(err.Error(), "\n") > 0 {
		t.Fatalf("unknown package: %v", err)
	}
}

// TestPlan: the first progress line says what is installed already
// instead of claiming to install it.
func TestPlan(t *testing.T) {
	for _, c := range []struct {
		names, missing []string
		want           string
	}{
		{[]string{"ngircd"}, nil, "ngircd already installed"},
		{[]string{"ngircd"}, []string{"ngircd"}, "installing ngircd"},
		{[]string{"a", "b", "c"}, []string{"b"}, "installing b (a, c already installed)"},
	} {
		if got := Plan(c.names, c.missing); got != c.want {
			t.Errorf("Plan(%v, %v) = %q, want %q", c.names, c.missing, got, c.want)
		}
	}
}

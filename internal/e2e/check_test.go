package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"tails-server/internal/testenv"
)

var trialLine = regexp.MustCompile(`^(PASS|FAIL|SKIP|NOT RUN) `)

// checkRun runs `tails-server check FILE` on the shared network and
// returns its trial lines, the summary, stderr and the exit code.
func checkRun(t *testing.T, file string, extra ...string) (lines []string, summary, stderr string, code int) {
	t.Helper()
	start := time.Now()
	out, stderr, code := cli(t, nil, append([]string{"check", file, "--network-dir", tnet.Dir}, extra...)...)
	t.Logf("check %s: exit %d in %.1fs\n%s%s", file, code, time.Since(start).Seconds(), out, stderr)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case trialLine.MatchString(l):
			lines = append(lines, l)
		case strings.HasPrefix(l, "check "):
			summary = l
		}
	}
	return lines, summary, stderr, code
}

// TestCheck runs `tails-server check` on a third-party description
// (Python's web server from Debian, every option type) that passes every
// trial, then on descriptions broken on purpose, each failing with the
// trial that failed and why, and on one whose probe does not parse.
func TestCheck(t *testing.T) {
	requireNet(t)
	testenv.RequireProgram(t, "/usr/bin/python3")

	t.Run("a good description passes every trial", func(t *testing.T) {
		lines, summary, _, code := checkRun(t, "testdata/check/pyhttp.yaml")
		if code != 0 {
			t.Errorf("exit %d, want 0", code)
		}
		want := []string{"enable", "probe http GET / on onion port 80", "kill -9 of the backend",
			"set-option greeting to a valid value", "set-option greeting to an invalid value",
			"set-option heading to a valid value", "set-option edition to an invalid value",
			"set-option footer to a valid value", "set-option notes to an invalid value",
			"set-option admin-password to a valid value",
			"hostile values of greeting", "hostile values of notes", "hostile values of admin-password",
			"disable", "enable again", "persistence on across a reboot", "persistence off across a reboot"}
		for _, w := range want {
			found := false
			for _, l := range lines {
				found = found || strings.HasPrefix(l, "PASS "+w+" (")
			}
			if !found {
				t.Errorf("no line PASS %s (...)", w)
			}
		}
		for _, l := range lines {
			if !strings.HasPrefix(l, "PASS ") {
				t.Errorf("trial not passed: %s", l)
			}
		}
		if !strings.Contains(summary, ": ok: ") || !strings.Contains(summary, " 0 failed, 0 skipped, 0 not run") {
			t.Errorf("summary %q", summary)
		}
	})

	broken := []struct {
		file, trial, why string
	}{
		// The daemon's health check finds nothing on the port it gave.
		{"wrongport.yaml", "FAIL enable: ", "did not pass its health check within 10s"},
		{"exits.yaml", "FAIL enable: ", "(the backend exited: exit status 3)"},
		{"nomatch.yaml", "FAIL probe http GET / on onion port 80: ", "does not match Edition none"},
	}
	for _, b := range broken {
		t.Run(b.file, func(t *testing.T) {
			lines, summary, _, code := checkRun(t, "testdata/check/"+b.file, "--wait", "20s")
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			failed := ""
			for _, l := range lines {
				if strings.HasPrefix(l, "FAIL ") {
					failed = l
					break
				}
			}
			if !strings.HasPrefix(failed, b.trial) || !strings.Contains(failed, b.why) {
				t.Errorf("first failure %q, want %q...%q", failed, b.trial, b.why)
			}
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, "NOT RUN persistence off across a reboot: ") {
				t.Errorf("the trials after a failed gate ran: last line %q", last)
			}
			if !strings.Contains(summary, ": FAILED: ") {
				t.Errorf("summary %q", summary)
			}
		})
	}

	t.Run("a probe that does not parse", func(t *testing.T) {
		lines, _, stderr, code := checkRun(t, "testdata/check/badprobe.yaml")
		wantOneLineError(t, stderr, code, 2, "testdata/check/badprobe.yaml:49: probe.http.expect_body: not a Go regular expression")
		if len(lines) > 0 {
			t.Errorf("trials ran: %q", lines)
		}
	})
}

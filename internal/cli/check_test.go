package cli

import (
	"bytes"
	"context"
	"testing"
)

// TestCheckBadInput: a description that cannot be checked is one error
// line naming the file (and line) and a hint, exit 2, and no trial runs.
func TestCheckBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"check"}, "tails-server: error: check takes one description file, NAME.yaml\ntails-server: hint: see `tails-server help`\n"},
		{[]string{"check", "none.yaml"}, "tails-server: error: none.yaml: cannot read none.yaml: no such file or directory\n" +
			"tails-server: hint: give the path of a readable NAME.yaml description (its format: docs/services.md)\n"},
		{[]string{"check", "../e2e/testdata/check/badprobe.yaml"}, "tails-server: error: ../e2e/testdata/check/badprobe.yaml:49: probe.http.expect_body: not a Go regular expression (missing closing ): `Edition ([0-9]+`); fix it (RE2 syntax: https://pkg.go.dev/regexp/syntax)\n" +
			"tails-server: hint: fix that line of the description (its format: docs/services.md)\n"},
		{[]string{"check", "x.yaml", "--wait", "0s"}, "tails-server: error: --wait must be a positive duration, like 120s\ntails-server: hint: see `tails-server help`\n"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), tt.args, &out, &errb); code != ExitUsage || errb.String() != tt.want || out.Len() != 0 {
			t.Errorf("%q: exit %d\nstdout %q\nstderr %q\nwant   %q", tt.args, code, out.String(), errb.String(), tt.want)
		}
	}
}

package apitype

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	good := []string{"report.pdf", "photos/2024/a b.jpg", "é-ü.txt", "名前.txt", strings.Repeat("n", 255), "a.b.c", "x..y"}
	for _, n := range good {
		if err := CheckName(n); err != nil {
			t.Errorf("%q refused: %v", n, err)
		}
	}
	bad := map[string]string{
		"":                       "empty",
		"/etc/passwd":            "starts with /",
		"..":                     `".." is not allowed`,
		"a/../b":                 `".." is not allowed`,
		"a//b":                   "empty name",
		"a/":                     "empty name",
		".hidden":                "starts with a dot",
		"a/.git/config":          "starts with a dot",
		"back\\slash":            "backslash",
		"bell\x07":               "control or format",
		"new\nline":              "control or format",
		"invoice\u202Efdp.exe":   "control or format",
		"zero\u200Bwidth":        "control or format",
		"bom\uFEFF":              "control or format",
		"line\u2028sep":          "control or format",
		strings.Repeat("n", 256): "more than 255",
		"bad\xffutf8":            "not valid UTF-8",
	}
	for n, want := range bad {
		err := CheckName(n)
		if err == nil || !errors.Is(err, ErrBadName) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v, want one line with %q", n, err, want)
		}
	}
}

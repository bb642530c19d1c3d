package services

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHookDone(t *testing.T) {
	dir := t.TempDir()
	expand := func(s string) (string, error) {
		if strings.Contains(s, "{{bad}}") {
			return "", errors.New("bad template")
		}
		return strings.ReplaceAll(s, "{{data}}", dir), nil
	}
	if hookDone("", expand) {
		t.Error("no creates file: hook should run")
	}
	if hookDone("{{data}}/cert.pem", expand) {
		t.Error("missing file: hook should run")
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !hookDone("{{data}}/cert.pem", expand) {
		t.Error("existing file: hook should be skipped")
	}
	if hookDone("{{bad}}", expand) || hookDone("cert.pem", expand) {
		t.Error("a bad or relative path must not skip the hook")
	}
}

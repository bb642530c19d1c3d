package catalog

import (
	"strings"
	"testing"
	"testing/fstest"
)

// privilegedYAML is a minimal command service; BACKEND is replaced by the
// backend keys under test.
const privilegedYAML = `name: shell
title: Test
description: A test service.
backend:
  command: [sshd, -D]
  user: tails-server-shell
BACKEND
onion_ports:
  - virtual: 22
`

func TestBackendPrivileged(t *testing.T) {
	tests := []struct {
		name    string
		backend string
		want    bool
		wantErr string // "file:line: message" part, "" for none
	}{
		{"off by default", "  create_user: true", false, ""},
		{"with create_user", "  create_user: true\n  privileged: true", true, ""},
		{"explicit false", "  privileged: false", false, ""},
		{"without create_user", "  privileged: true", false, "shell.yaml:7: backend.privileged: allowed only with create_user: true"},
		{"create_user false", "  create_user: false\n  privileged: true", false, "shell.yaml:8: backend.privileged: allowed only with create_user"},
		{"not a bool", "  create_user: true\n  privileged: yes", false, `backend.privileged: "yes" is not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(privilegedYAML, "BACKEND", tt.backend, 1)
			cat, errs := Load(fstest.MapFS{"shell.yaml": {Data: []byte(src)}})
			if tt.wantErr != "" {
				if len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.wantErr) {
					t.Fatalf("errors %v, want one containing %q", errs, tt.wantErr)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			s, _ := cat.Get("shell")
			if s.Backend.Privileged != tt.want {
				t.Fatalf("Privileged = %v, want %v", s.Backend.Privileged, tt.want)
			}
		})
	}

	// A built-in backend runs inside the daemon: privileged makes no sense.
	builtin := "name: site\ntitle: T\ndescription: D.\nbackend:\n  builtin: web\n  privileged: true\nonion_ports:\n  - virtual: 80\n"
	_, errs := Load(fstest.MapFS{"site.yaml": {Data: []byte(builtin)}})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "site.yaml:6: backend.privileged applies only to a command backend") {
		t.Fatalf("builtin + privileged: %v", errs)
	}
}

func TestTextPattern(t *testing.T) {
	keys := &Option{Name: "keys", Type: TypeText, Pattern: `ssh-ed25519 [A-Za-z0-9+/]+={0,2}( [^\x00-\x1f]*)?|#[^\x00-\x1f]*`}
	tests := []struct {
		in      string
		wantErr string
	}{
		{"", ""},
		{"ssh-ed25519 AAAAC3Nz alice@laptop", ""},
		{"# team\nssh-ed25519 AAAA\n\nssh-ed25519 BBBB= bob\n", ""},
		{"ssh-ed25519 AAAA\ncommand=\"sh\" ssh-ed25519 BBBB", `option "keys": line 2 is not valid: see the option's description`},
		{"ssh-ed25519 AAAA\r\nssh-ed25519 BBBB", "line 1 is not valid"},
		{"ssh-rsa AAAA", "line 1 is not valid"},
		{"ssh-ed25519 AAAA\x00", "NUL"},
	}
	for _, tt := range tests {
		got, err := keys.Validate(tt.in)
		switch {
		case tt.wantErr == "" && (err != nil || got != tt.in):
			t.Errorf("Validate(%q) = %q, %v", tt.in, got, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("Validate(%q): error %v, want %q", tt.in, err, tt.wantErr)
		case err != nil && strings.Contains(err.Error(), "BBBB"):
			t.Errorf("the error quotes the value: %v", err)
		}
	}

	// At load, pattern is accepted on text options and the default is
	// checked line by line.
	src := "name: keys\ntitle: T\ndescription: D.\nbackend:\n  builtin: web\nonion_ports:\n  - virtual: 80\n" +
		"options:\n  - name: keys\n    title: Keys\n    type: text\n    pattern: '[a-z]+'\n    pattern_help: use lower-case letters\n    default: \"abc\\nDEF\\n\"\n"
	_, errs := Load(fstest.MapFS{"keys.yaml": {Data: []byte(src)}})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `keys.yaml:14: option "keys": bad default: line 2 is not valid: use lower-case letters`) {
		t.Fatalf("text default against its pattern: %v", errs)
	}
}

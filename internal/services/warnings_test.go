package services

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/store"
	catalogfs "tails-server/services"
)

// newTestManager is a manager of the built-in catalog on a fresh store,
// with no tor: enough for options, info and their warnings.
func newTestManager(t *testing.T) *Manager {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "state"), filepath.Join(dir, "volatile"))
	if err != nil {
		t.Fatal(err)
	}
	cat, errs := catalog.Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m, err := New(st, OneTor{T: countedTor{}}, cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func hasWarning(ws []string, part string) bool {
	return slices.ContainsFunc(ws, func(w string) bool { return strings.Contains(w, part) })
}

// TestNoOneCanLogIn: sftp without keys and password login, and xmpp
// without accounts and registration, warn in info, next to the options
// that would lift it, and in set-option's result while it holds.
func TestNoOneCanLogIn(t *testing.T) {
	m := newTestManager(t)
	ctx := context.Background()
	tests := []struct {
		service, text, bool, value, warning string
	}{
		{"sftp", "authorized-keys", "password-login", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtest alice", "no one can log in yet: set authorized-keys"},
		{"xmpp", "accounts", "registration", "alice correct-horse", "no one can log in yet: set accounts"},
	}
	for _, tt := range tests {
		info := func() apitype.Service {
			sv, err := m.Info(tt.service, false, false)
			if err != nil {
				t.Fatal(err)
			}
			return sv
		}
		sv := info()
		if !hasWarning(sv.Warnings, tt.warning) {
			t.Fatalf("%s info warnings %q, want %q", tt.service, sv.Warnings, tt.warning)
		}
		for _, o := range sv.Options {
			want := o.Name == tt.text || o.Name == tt.bool
			if hasWarning(o.Warnings, tt.warning) != want {
				t.Errorf("%s option %s warnings %q (want the warning: %v)", tt.service, o.Name, o.Warnings, want)
			}
		}
		// Comments only: still no one.
		r, err := m.SetOption(ctx, tt.service, tt.text, "# nobody yet\n")
		if err != nil {
			t.Fatal(err)
		}
		if !hasWarning(r.Warnings, tt.warning) {
			t.Errorf("%s set-option %s to a comment: warnings %q, want %q", tt.service, tt.text, r.Warnings, tt.warning)
		}
		if r, err = m.SetOption(ctx, tt.service, tt.text, tt.value); err != nil {
			t.Fatal(err)
		}
		if len(r.Warnings) > 0 {
			t.Errorf("%s set-option %s: warnings %q", tt.service, tt.text, r.Warnings)
		}
		if sv := info(); hasWarning(sv.Warnings, "no one can") {
			t.Errorf("%s with %s set still warns %q", tt.service, tt.text, sv.Warnings)
		}
		// The bool alone lifts it too.
		if _, err := m.SetOption(ctx, tt.service, tt.text, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := m.SetOption(ctx, tt.service, tt.bool, "true"); err != nil {
			t.Fatal(err)
		}
		if sv := info(); hasWarning(sv.Warnings, "no one can") {
			t.Errorf("%s with %s on still warns %q", tt.service, tt.bool, sv.Warnings)
		}
	}
	// A service without usable_when never says so.
	if sv, _ := m.Info("mumble", false, false); hasWarning(sv.Warnings, "no one can") {
		t.Errorf("mumble warns %q", sv.Warnings)
	}
}

// TestRefusalSaysTheRule: set-option's refusal of a value its pattern
// does not take says the rule in words and names the option, and the
// regexp stays out of it.
func TestRefusalSaysTheRule(t *testing.T) {
	m := newTestManager(t)
	_, err := m.SetOption(context.Background(), "xmpp", "room", "Bad Room")
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("set-option xmpp room \"Bad Room\": %v, want a 400", err)
	}
	want := `option "room": value "Bad Room" is not valid: use 1 to 64 lower-case letters`
	if !strings.HasPrefix(e.Msg, want) || strings.ContainsAny(e.Msg, "[]{}\\^$") {
		t.Errorf("refusal %q, want %s... without regexp", e.Msg, want)
	}
}

// TestSetOptionBeforeEnable: an option of a service never enabled (its
// generated secrets not made yet) is set, not refused for the secrets'
// emptiness: `set-option irc channels "#general"` first thing.
func TestSetOptionBeforeEnable(t *testing.T) {
	m := newTestManager(t)
	if _, err := m.SetOption(context.Background(), "irc", "channels", "#general,news"); err != nil {
		t.Fatalf("set-option irc channels before enable: %v", err)
	}
	o, err := m.GetOption("irc", "password", true)
	if err != nil || o.Value != "" {
		t.Errorf("the password stand-in was kept: %q, %v", o.Value, err)
	}
}

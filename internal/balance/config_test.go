package balance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tails-server/internal/onionkey"
)

func testAddr(t *testing.T) string {
	t.Helper()
	k, err := onionkey.GenerateServiceKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.Address()
}

func TestRender(t *testing.T) {
	a, b := testAddr(t), testAddr(t)
	got, err := configFile{KeyPath: "/s/balance/front/hs_ed25519_secret_key", StatusSocket: "/run/x/front.sock", Instances: []string{a, b}}.render()
	if err != nil {
		t.Fatal(err)
	}
	want := "# Written by tails-server (balance); changes are overwritten.\n" +
		"status-socket-location: '/run/x/front.sock'\n" +
		"services:\n" +
		"- key: '/s/balance/front/hs_ed25519_secret_key'\n" +
		"  instances:\n" +
		"  - address: '" + a + "'\n    name: 'instance1'\n" +
		"  - address: '" + b + "'\n    name: 'instance2'\n"
	if string(got) != want {
		t.Errorf("render:\n%s\nwant:\n%s", got, want)
	}
	for _, bad := range []configFile{
		{KeyPath: "/k", StatusSocket: "/s"},                                        // no instance
		{KeyPath: "/k'\nservices: []", StatusSocket: "/s", Instances: []string{a}}, // injection
		{KeyPath: "/k", StatusSocket: "/s", Instances: []string{a + "\n- address: x"}},
		{KeyPath: "/k", StatusSocket: "/s", Instances: []string{"x"}},
		{KeyPath: "", StatusSocket: "/s", Instances: []string{a}},
	} {
		if out, err := bad.render(); err == nil {
			t.Errorf("render(%+v) = %q, want an error", bad, out)
		}
	}
}

func TestValidation(t *testing.T) {
	a := testAddr(t)
	for _, in := range []string{a, a + ".onion", strings.ToUpper(a) + ".ONION"} {
		if got, err := NormalizeInstance(in); err != nil || got != a {
			t.Errorf("NormalizeInstance(%q) = %q, %v", in, got, err)
		}
	}
	bad := []byte(a)
	bad[10] ^= 1 // checksum breaks
	for _, in := range []string{"", "abc", "example.com", string(bad), a + ".onion.onion", strings.Repeat("a", 56)} {
		if _, err := NormalizeInstance(in); err == nil || !strings.Contains(err.Error(), "is not a v3 onion address") {
			t.Errorf("NormalizeInstance(%q): %v", in, err)
		}
	}
	for _, n := range []string{"front", "a", "web-2"} {
		if err := ValidName(n); err != nil {
			t.Error(err)
		}
	}
	for _, n := range []string{"", "Front", "2x", "a/b", "../x", strings.Repeat("a", 33)} {
		if ValidName(n) == nil {
			t.Errorf("ValidName(%q) accepted", n)
		}
	}
}

func fakeBinary(t *testing.T, out string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "onionbalance")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho '"+out+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckBinary(t *testing.T) {
	if err := CheckBinary(fakeBinary(t, "onionbalance 0.2.2")); err != nil {
		t.Errorf("0.2.2: %v", err)
	}
	if err := CheckBinary(fakeBinary(t, "onionbalance 0.10.0")); err != nil {
		t.Errorf("0.10.0: %v", err)
	}
	for _, c := range []struct{ bin, want string }{
		{fakeBinary(t, "onionbalance 0.1.8"), "onionbalance 0.1.8 is too old: 0.2.2 or newer is needed"},
		{fakeBinary(t, "something else"), "cannot tell onionbalance's version"},
		{filepath.Join(t.TempDir(), "none"), "onionbalance is not installed"},
	} {
		err := CheckBinary(c.bin)
		be, ok := err.(*Error)
		if !ok || !strings.Contains(be.Msg, c.want) || be.Hint == "" || strings.Contains(be.Msg, "\n") {
			t.Errorf("CheckBinary(%s) = %v, want %q with a hint", c.bin, err, c.want)
		}
	}
}

func TestFrontJoin(t *testing.T) {
	got := frontJoin([]string{"TestingTorNetwork 1", "UseMicrodescriptors 0", "DirAuthority x"})
	if strings.Join(got, "|") != "TestingTorNetwork 1|DirAuthority x" {
		t.Errorf("frontJoin = %q", got)
	}
}

func TestCreateAddRemoveDelete(t *testing.T) {
	dir := t.TempDir()
	m, err := New(Options{Dir: filepath.Join(dir, "balance"), RunDir: filepath.Join(dir, "run"), Binary: fakeBinary(t, "onionbalance 0.2.2")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Create("front", nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "balance", "front", "hs_ed25519_secret_key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if _, err := m.Create("front", nil); err == nil {
		t.Error("created twice")
	}
	a := testAddr(t)
	if _, err := m.Add("front", a+".onion"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Add("front", a); err == nil || !strings.Contains(err.Error(), "already in balance front") {
		t.Errorf("added twice: %v", err)
	}
	if _, err := m.Add("front", b.Address); err == nil {
		t.Error("the master added as its own instance")
	}
	if _, err := m.Add("front", "nope"); err == nil {
		t.Error("bad address added")
	}
	// A new manager reads the same masters back.
	m2, err := New(Options{Dir: filepath.Join(dir, "balance"), RunDir: filepath.Join(dir, "run")})
	if err != nil {
		t.Fatal(err)
	}
	l := m2.List()
	if len(l.Balances) != 1 || l.Balances[0].Address != b.Address || len(l.Balances[0].Instances) != 1 {
		t.Fatalf("reloaded: %+v", l)
	}
	if _, err := m.Remove("front", testAddr(t)); err == nil {
		t.Error("removed an instance that is not there")
	}
	if _, err := m.Remove("front", a); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete("front"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "balance", "front")); !os.IsNotExist(err) {
		t.Errorf("after delete: %v", err)
	}
	// Too old: nothing created.
	m3, _ := New(Options{Dir: filepath.Join(dir, "balance"), RunDir: filepath.Join(dir, "run"), Binary: fakeBinary(t, "onionbalance 0.1.0")})
	if _, err := m3.Create("old", nil); err == nil || !strings.Contains(err.Error(), "too old") {
		t.Errorf("create with an old onionbalance: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "balance", "old")); !os.IsNotExist(err) {
		t.Errorf("a refused create left %v", err)
	}
}

func TestObTime(t *testing.T) {
	s := "2026-12-03 08:03:27"
	if tm := obTime(&s); tm == nil || tm.Format("2006-01-02T15:04:05Z07:00") != "2026-12-03T08:03:27Z" {
		t.Errorf("obTime = %v", tm)
	}
	if obTime(nil) != nil {
		t.Error("nil time")
	}
}

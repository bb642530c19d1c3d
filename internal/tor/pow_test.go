package tor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAddOnionLinePoW(t *testing.T) {
	base := AddOnionRequest{Ports: []PortMapping{{80, "8080"}}, MaxStreams: 2, Flags: []string{"MaxStreamsCloseCircuit"}}
	line, err := addOnionLine(base)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ADD_ONION NEW:ED25519-V3 Flags=MaxStreamsCloseCircuit MaxStreams=2 Port=80,8080"; line != want {
		t.Errorf("without PoW: %q, want %q", line, want)
	}
	with := base
	with.PoW = &PoWParams{QueueRate: 250, QueueBurst: 2500}
	line, err = addOnionLine(with)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ADD_ONION NEW:ED25519-V3 Flags=MaxStreamsCloseCircuit MaxStreams=2 PoWDefensesEnabled=1 PoWQueueRate=250 PoWQueueBurst=2500 Port=80,8080"; line != want {
		t.Errorf("with PoW: %q, want %q", line, want)
	}
	for _, p := range []PoWParams{{-1, 10}, {MaxPoWValue + 1, 10}, {10, 0}, {10, MaxPoWValue + 1}} {
		r := base
		r.PoW = &p
		if _, err := addOnionLine(r); err == nil || !strings.Contains(err.Error(), "PoWQueue") {
			t.Errorf("PoW %+v: error %v, want one naming the PoW value", p, err)
		}
	}
}

func TestIsPoWRefusal(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&ReplyError{Code: 512, Text: `Unrecognized keyword argument "PoWDefensesEnabled"`}, true},
		{&ReplyError{Code: 513, Text: "Proof of work defenses are not available in this build"}, true},
		{&ReplyError{Code: 550, Text: "Onion address collision"}, false},
		{&ReplyError{Code: 512, Text: `Unrecognized keyword argument "Foo"`}, false},
		{errors.New("tor: connection closed"), false},
	} {
		if got := IsPoWRefusal(tc.err); got != tc.want {
			t.Errorf("IsPoWRefusal(%v) = %v", tc.err, got)
		}
	}
}

func TestListsModule(t *testing.T) {
	out := "relay: yes\ndirauth: yes\ndircache: yes\npow: yes\n"
	if !listsModule(out, "pow") || listsModule(strings.Replace(out, "pow: yes", "pow: no", 1), "pow") || listsModule("relay: yes\n", "pow") {
		t.Error("listsModule misreads --list-modules")
	}
}

// fakeTorBinary writes a shell script that prints a version and modules.
func fakeTorBinary(t *testing.T, version, modules string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tor")
	script := "#!/bin/sh\ncase \"$1\" in --version) echo 'Tor version " + version + ".';; --list-modules) printf '" + modules + "';; esac\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDetectPoW(t *testing.T) {
	for _, tc := range []struct {
		name, version, bin, modules string
		want                        bool
		reason                      string
	}{
		{"new with module", "0.4.9.11", "fake", `relay: yes\npow: yes\n`, true, ""},
		{"new without module", "0.4.9.11", "fake", `relay: yes\npow: no\n`, false, "without its pow module"},
		{"old", "0.4.8.16", "fake", `pow: yes\n`, false, "older than 0.4.9.2"},
		{"system tor, new", "0.4.9.3-alpha", "", "", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := ""
			if tc.bin != "" {
				bin = fakeTorBinary(t, tc.version, tc.modules)
			}
			c, f := newFake(t)
			ch := make(chan PoWSupport, 1)
			go func() { ch <- DetectPoW(testCtx(t), c, bin) }()
			f.expect("GETINFO version")
			f.send("250-version="+tc.version+" (git-0123456789abcdef)", "250 OK")
			got := <-ch
			if got.Supported != tc.want || !strings.Contains(got.Reason, tc.reason) || got.Version != tc.version {
				t.Errorf("DetectPoW = %+v, want supported %v, reason %q", got, tc.want, tc.reason)
			}
		})
	}
}

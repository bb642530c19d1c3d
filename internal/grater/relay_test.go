package grater

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tails-server/internal/tor"
)

// fakeUpstream is a scripted tor control port for the relay: it wants the
// cookie, then answers each command from answers (an event before the
// reply where the answer says so).
func fakeUpstream(t *testing.T, cookie []byte, answers map[string]string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			l = strings.TrimRight(l, "\r\n")
			a, ok := answers[l]
			switch {
			case l == "AUTHENTICATE "+hex.EncodeToString(cookie):
				a = "250 OK"
			case !ok:
				a = `510 Unrecognized command "` + l + `"`
			}
			c.Write([]byte(a + "\r\n"))
		}
	}()
	return ln.Addr().String()
}

// TestRelay: through the relay a client authenticates with none (the
// relay answers PROTOCOLINFO and AUTHENTICATE), gets allowed commands'
// replies and the events subscribed to, in order, and "510 Command
// filtered" for the rest; every line is recorded.
func TestRelay(t *testing.T) {
	cookie := []byte("0123456789abcdef0123456789abcdef")
	path := filepath.Join(t.TempDir(), "control_auth_cookie")
	if err := os.WriteFile(path, cookie, 0o600); err != nil {
		t.Fatal(err)
	}
	up := fakeUpstream(t, cookie, map[string]string{
		"GETINFO version":         "250-version=0.4.8.16\r\n250 OK",
		"SETEVENTS STATUS_CLIENT": "250 OK",
		"GETINFO status/bootstrap-phase": "650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done\"\r\n" +
			"250-status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done\"\r\n250 OK",
	})
	f := parse(t, "- {apparmor-profiles: ['*'], users: ['*'], commands: {GETINFO: ['version', 'status/bootstrap-phase']}, events: {STATUS_CLIENT: }}\n")
	r := &Relay{Upstream: up, Cookie: path, Filter: f}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := tor.Dial(ctx, "tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(ctx, ""); err != nil {
		t.Fatal(err)
	}
	info, err := c.GetInfo(ctx, "version")
	if err != nil || info["version"] != "0.4.8.16" {
		t.Fatalf("GETINFO version: %v %v", info, err)
	}
	events, stop, err := c.Subscribe("STATUS_CLIENT")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, err := c.GetInfo(ctx, "status/bootstrap-phase"); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if b, ok := tor.ParseBootstrap(ev); !ok || b.Progress != 100 {
			t.Fatalf("event %+v", ev)
		}
	case <-ctx.Done():
		t.Fatal("no event through the relay")
	}
	err = c.SetConf(ctx, tor.KeyValue{Key: "DisableNetwork", Value: "1"})
	var fe *tor.FilteredError
	if !errors.As(err, &fe) || fe.Command != "SETCONF" {
		t.Fatalf("SETCONF through the filter: %v", err)
	}
	if _, err := c.GetInfo(ctx, "version"); err != nil {
		t.Fatalf("after a refusal: %v", err)
	}
	want := []string{"PROTOCOLINFO 1", "AUTHENTICATE", "GETINFO version", "SETEVENTS STATUS_CLIENT", "GETINFO status/bootstrap-phase", `SETCONF DisableNetwork="1"`, "GETINFO version"}
	if got := r.Lines(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("recorded %q, want %q", got, want)
	}
	if got := r.Refused(); len(got) != 1 || got[0] != `SETCONF DisableNetwork="1"` {
		t.Fatalf("refused %q", got)
	}
}

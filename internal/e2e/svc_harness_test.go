package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	osuser "os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/client"
	"tails-server/internal/conformance"
	"tails-server/internal/socks"
	"tails-server/internal/testenv"
)

// catalogSvc is one catalog service enabled on a test daemon, reached by an
// independent client tor that holds a credential for it: what the
// services' end-to-end tests (svc_*_test.go) share.
type catalogSvc struct {
	d      *daemon
	name   string
	addr   string // onion host name
	port   int    // first onion port
	client *onionClient
}

// enableCatalogService starts a daemon, enables name (its program must be
// installed: the daemon would apt-get it, and this machine has no mirror),
// adds a client and starts a client tor with its credential.
func enableCatalogService(t *testing.T, name, program string) *catalogSvc {
	t.Helper()
	requireNet(t)
	testenv.RequireProgram(t, program)
	tmp := backendTempDir(t)
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))
	if out := d.mustCLI("enable", name, "--wait", "240s"); !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable %s:\n%s", name, out)
	}
	s := d.service(name)
	d.mustCLI("client", "add", name, "ann")
	cred := strings.TrimSpace(d.mustCLI("client", "show", name, "ann", "--format", "auth-private"))
	sh, err := client.New(d.socket).Share(context.Background(), name, "")
	if err != nil {
		t.Fatal(err)
	}
	return &catalogSvc{d: d, name: name, addr: s.OnionAddress, port: sh.OnionPort, client: newOnionClient(t, name+"-ann", cred)}
}

// dial connects to the service's onion port through the client tor.
func (s *catalogSvc) dial() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return socks.Dial(ctx, s.client.tor.SocksAddr, net.JoinHostPort(s.addr, strconv.Itoa(s.port)), nil)
}

// prove runs the protocol exchange f on fresh connections through the
// onion until it succeeds (an onion takes a few seconds to be reachable
// again after a change).
func (s *catalogSvc) prove(t *testing.T, what string, f func(net.Conn) error) {
	t.Helper()
	start, tries := time.Now(), 0
	waitFor(t, 120*time.Second, s.name+": "+what, func() error {
		tries++
		c, err := s.dial()
		if err == nil {
			defer c.Close()
			c.SetDeadline(time.Now().Add(45 * time.Second))
			err = f(c)
		}
		if err != nil {
			t.Logf("%s: try %d: %v", what, tries, err)
		}
		return err
	})
	if tries > 1 {
		t.Logf("%s: passed at try %d, after %s", what, tries, time.Since(start).Round(time.Millisecond))
	}
}

// option returns an option's value, secrets included.
func (s *catalogSvc) option(t *testing.T, name string) string {
	t.Helper()
	o, err := client.New(s.d.socket).GetOption(context.Background(), s.name, name, true)
	if err != nil {
		t.Fatal(err)
	}
	return o.Value
}

// set sets an option through the CLI, checks get-option reads it back and
// waits for the restarted backend.
func (s *catalogSvc) set(t *testing.T, name, value string) {
	t.Helper()
	before := s.backendPID(t)
	s.d.in(t).mustCLI("set-option", s.name, name, value)
	if got := s.option(t, name); got != value {
		t.Fatalf("get-option %s = %q after set-option %q", name, got, value)
	}
	s.waitRestarted(t, before)
}

// config returns a rendered config file of the service.
func (s *catalogSvc) config(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.d.service(s.name).Details.DataDir, "config", file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (s *catalogSvc) backendPID(t *testing.T) int {
	t.Helper()
	b := s.d.in(t).service(s.name).Details.Backend
	if b == nil || !b.Running || b.PID == 0 {
		return 0
	}
	return b.PID
}

// waitRestarted waits until the backend runs with a pid other than old.
func (s *catalogSvc) waitRestarted(t *testing.T, old int) {
	t.Helper()
	waitFor(t, 60*time.Second, s.name+" backend running again", func() error {
		if pid := s.backendPID(t); pid == 0 || pid == old {
			return fmt.Errorf("backend pid %d (was %d)", pid, old)
		}
		return nil
	})
}

// kill9 kills the backend with SIGKILL and waits for the supervisor to
// start it again.
func (s *catalogSvc) kill9(t *testing.T) {
	t.Helper()
	pid := s.backendPID(t)
	if pid == 0 {
		t.Fatal("no running backend")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.waitRestarted(t, pid)
}

// hostileValues are the values every string, text and secret option is
// tried with: each must be refused with a one-line error or land escaped
// (the list `tails-server check` tries too).
var hostileValues = conformance.HostileValues

// hostile sets option to each hostile value. A refusal must be one line
// (that does not echo a secret's value) and leave the option unchanged; an accepted
// value must leave the config files with as many directives as before
// (count) and pass accepted (which proves the backend took it).
func (s *catalogSvc) hostile(t *testing.T, option string, count func(*testing.T) int, accepted func(*testing.T, string)) {
	t.Helper()
	c := client.New(s.d.socket)
	o, err := c.GetOption(context.Background(), s.name, option, false)
	if err != nil {
		t.Fatal(err)
	}
	secret := o.Type == "secret"
	want := count(t)
	for _, v := range hostileValues {
		before, pid := s.option(t, option), s.backendPID(t)
		var err error
		if strings.IndexByte(v, 0) >= 0 {
			// argv cannot carry NUL: through the API, as the GUI would.
			_, err = c.SetOption(context.Background(), s.name, option, v)
		} else {
			_, stderr, code := s.d.in(t).cli("set-option", s.name, option, v)
			if code != 0 {
				wantOneLineError(t, stderr, code, 1, option)
				err = fmt.Errorf("%s", stderr)
			}
		}
		if err != nil {
			if secret && strings.Contains(err.Error(), v) {
				t.Errorf("%s=%q: the error echoes the secret value: %v", option, v, err)
			}
			if got := s.option(t, option); got != before {
				t.Fatalf("%s=%q refused, but the option changed to %q", option, v, got)
			}
			t.Logf("%s=%q refused: %s", option, v, strings.TrimSpace(err.Error()))
			continue
		}
		if got := s.option(t, option); got != v {
			t.Fatalf("%s=%q accepted, but reads back %q", option, v, got)
		}
		s.waitRestarted(t, pid)
		if n := count(t); n != want {
			t.Fatalf("%s=%q: the config has %d directives, want %d", option, v, n, want)
		}
		accepted(t, v)
		t.Logf("%s=%q accepted and escaped", option, v)
	}
}

// jsonOut runs a CLI command with -o json and decodes its output.
func (s *catalogSvc) jsonOut(t *testing.T, out any, args ...string) {
	t.Helper()
	if err := json.Unmarshal([]byte(s.d.in(t).mustCLI(append([]string{"-o", "json"}, args...)...)), out); err != nil {
		t.Fatal(err)
	}
}

// checkConfinement checks that the backend runs as user (not root) and
// that every socket it listens on is bound to 127.0.0.1 (allow-lan is
// off): from /proc, as `ss -ltnup` would show it.
func (s *catalogSvc) checkConfinement(t *testing.T, user string) {
	t.Helper()
	pid := s.backendPID(t)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	u, err := osuser.Lookup(user)
	if err != nil {
		t.Fatalf("backend user: %v", err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) == 5 && f[0] == "Uid:" && (f[1] != u.Uid || f[2] != u.Uid) {
			t.Fatalf("backend runs with %s, want uid %s (%s)", l, u.Uid, user)
		}
	}
	// Socket inodes of the backend, then their local addresses.
	inodes := map[string]bool{}
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	listening := 0
	for _, table := range []string{"tcp", "tcp6", "udp", "udp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(l)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			// TCP: only LISTEN (0A) sockets; UDP: every bound socket (07).
			if strings.HasPrefix(table, "tcp") && f[3] != "0A" {
				continue
			}
			listening++
			if !strings.HasPrefix(f[1], "0100007F:") {
				t.Errorf("backend %s socket bound to %s, want 127.0.0.1 (0100007F)", table, f[1])
			}
		}
	}
	if listening == 0 {
		t.Errorf("backend pid %d has no listening socket", pid)
	}
}

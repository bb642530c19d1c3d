// Package e2e holds the end-to-end tests: the real tails-server binary, the
// real daemon and Debian's tor, on the project's private Tor network, with
// independent client tors and curl as the clients.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
	"tails-server/internal/testenv"
	"tails-server/internal/testnet"
)

var (
	bin  string       // the tails-server binary under test
	tnet *testnet.Env // the shared private network, nil if tor is missing
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if spec := os.Getenv("TAILS_TEST_SOCKS_ATTACK"); spec != "" {
		return socksAttack(spec, os.Getenv("TAILS_TEST_SOCKS_OUT"))
	}
	bin = os.Getenv("TAILS_SERVER_BIN")
	if bin == "" {
		dir, err := os.MkdirTemp("", "tails-server-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "tails-server")
		out, err := exec.Command("go", "build", "-o", bin, "tails-server/cmd/tails-server").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building tails-server: %v\n%s", err, out)
			return 1
		}
	}
	if _, err := exec.LookPath("tor"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		env, cleanup, err := testnet.Shared(ctx)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "private network:", err)
			return 1
		}
		defer cleanup()
		tnet = env
	}
	return m.Run()
}

// requireNet returns the shared network or ends the test (failing in CI).
func requireNet(t *testing.T) *testnet.Env {
	t.Helper()
	testenv.RequireTor(t)
	testenv.RequireProgram(t, "curl")
	if tnet == nil {
		t.Fatal("no private network")
	}
	return tnet
}

// cli runs the binary and returns stdout, stderr and the exit code.
func cli(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	return cliStdin(t, env, nil, args...)
}

// cliStdin is cli with stdin (nil: none).
func cliStdin(t *testing.T, env []string, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// daemon is a running `tails-server daemon` on the private network.
type daemon struct {
	t      *testing.T
	state  string
	socket string
	cmd    *exec.Cmd
	log    *syncBuffer
}

func startDaemon(t *testing.T, state, socket string, extra ...string) *daemon {
	t.Helper()
	torReachable(t, state)
	d := &daemon{t: t, state: state, socket: socket, log: &syncBuffer{}}
	d.cmd = exec.Command(bin, append([]string{"daemon", "--state", state, "--network", "testnet",
		"--firewall-table", firewallTable(state),
		"--volatile-dir", state + "-volatile", "--testnet-dir", tnet.Dir, "--socket", socket, "--check-interval", "20s"}, extra...)...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stop() })
	c := client.New(socket)
	waitFor(t, 30*time.Second, "daemon API", func() error {
		if d.cmd.ProcessState != nil {
			return fmt.Errorf("daemon exited: %s", d.log)
		}
		_, err := c.Daemon(context.Background())
		return err
	})
	return d
}

func (d *daemon) stop() {
	if d.cmd.Process == nil || d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-done
		d.t.Errorf("daemon did not stop within 20 s of SIGTERM")
	}
	if d.t.Failed() {
		d.t.Logf("daemon log:\n%s", d.log)
	}
}

// in returns the daemon seen from test t (for a subtest's failures).
func (d *daemon) in(t *testing.T) *daemon {
	c := *d
	c.t = t
	return &c
}

func (d *daemon) cli(args ...string) (string, string, int) {
	d.t.Helper()
	return cli(d.t, []string{"TAILS_SERVER_SOCKET=" + d.socket}, args...)
}

func (d *daemon) mustCLI(args ...string) string {
	d.t.Helper()
	out, errOut, code := d.cli(args...)
	if code != 0 {
		d.t.Fatalf("tails-server %s: exit %d\n%s%s\ndaemon log:\n%s", strings.Join(args, " "), code, out, errOut, d.log)
	}
	return out
}

func (d *daemon) status() apitype.Daemon {
	d.t.Helper()
	st, err := client.New(d.socket).Daemon(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	return st
}

func (d *daemon) service(name string) apitype.Service {
	d.t.Helper()
	s, err := client.New(d.socket).Info(context.Background(), name, true)
	if err != nil {
		d.t.Fatal(err)
	}
	return s
}

// backendTempDir is a temporary dir that a backend running as a user of
// its own can traverse to reach its data dir (as it does through /var/lib).
func backendTempDir(t testing.TB) string {
	tmp := t.TempDir()
	for _, d := range []string{tmp, filepath.Dir(tmp)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return tmp
}

// torReachable opens the directories above dir that the test made (under
// the system's temp dir) to traversal, mode 0711: the daemon's tors run as
// a user of their own, which must reach their DataDirectory in the state
// and volatile roots, as it does through /var/lib on a real system.
func torReachable(t testing.TB, dir string) {
	t.Helper()
	top := filepath.Clean(os.TempDir())
	for p := filepath.Dir(dir); strings.HasPrefix(p, top+"/"); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o711); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

// firewallTable names a test daemon's own nftables table after its state
// dir, so that daemons of different tests never share one and a daemon
// restarted on the same state (after a SIGKILL too) replaces its own.
func firewallTable(state string) string {
	sum := sha256.Sum256([]byte(state))
	return "tse2e_" + hex.EncodeToString(sum[:6])
}

// syncBuffer is a buffer the daemon's output goroutine writes while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls f until it returns nil or the time is up.
func waitFor(t *testing.T, limit time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var err error
	for delay := 100 * time.Millisecond; ; delay = min(delay*2, 2*time.Second) {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, limit, err)
		}
		time.Sleep(delay)
	}
}

// onionClient is an independent client tor, joined to the private network
// from join.torrc, with its own ClientOnionAuthDir.
type onionClient struct {
	tor     *testnet.Tor
	authDir string
}

func newOnionClient(t *testing.T, name string, credentials ...string) *onionClient {
	t.Helper()
	authDir := filepath.Join(t.TempDir(), "auth")
	if err := os.MkdirAll(authDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for i, c := range credentials {
		if err := os.WriteFile(filepath.Join(authDir, fmt.Sprintf("c%d.auth_private", i)), []byte(c+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tr, err := tnet.StartTor(ctx, name+"-"+fmt.Sprint(time.Now().UnixNano()), []string{"ClientOnionAuthDir " + authDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Stop() })
	return &onionClient{tor: tr, authDir: authDir}
}

// forget has the client tor drop what it cached of onion services
// (SIGNAL NEWNYM purges the descriptors and introduction point state; the
// credentials in its ClientOnionAuthDir stay): a client that fetched a
// service before the service's tor restarted keeps trying the old
// introduction points for minutes otherwise, which is the client's cache
// and nothing the host controls.
func (c *onionClient) forget(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctl, err := dialControl(ctx, c.tor)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	if err := ctl.Signal(ctx, "NEWNYM"); err != nil {
		t.Fatal(err)
	}
}

// curl fetches url through the client's SOCKS port with curl.
func (c *onionClient) curl(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", "-sS", "--fail", "--max-time", "40",
		"--socks5-hostname", c.tor.SocksAddr, url)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("curl %s: %v: %s", url, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// socksCode returns the SOCKS reply code tor gives for a connection to
// addr, 0 on success.
func (c *onionClient) socksCode(addr string) (byte, error) {
	code, err := c.socksCodeUntil(addr, time.Now().Add(60*time.Second))
	if err != nil {
		return 0, err
	}
	return code, nil
}

var authPrivateLine = regexp.MustCompile(`^[a-z2-7]{56}:descriptor:x25519:[A-Z2-7]{52}$`)

const welcome = "<h1>Welcome</h1>"

// TestWebEndToEnd is the foundation's acceptance test: enable web with
// client auth, fetch it with a credential from an independent tor, fail
// without one, survive kill -9 of tor and a daemon restart, and revoke.
func TestWebEndToEnd(t *testing.T) {
	requireNet(t)
	tmp := t.TempDir()
	state, socket := filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock")
	d := startDaemon(t, state, socket)

	out := d.mustCLI("enable", "web", "--wait", "150s")
	if !strings.Contains(out, "state: reachable") || !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable web did not report reachable:\n%s", out)
	}
	svc := d.service("web")
	addr := svc.OnionAddress
	if !regexp.MustCompile(`^[a-z2-7]{56}\.onion$`).MatchString(addr) {
		t.Fatalf("onion address %q", addr)
	}
	// web is amnesic by default: its files are in the volatile root.
	key := filepath.Join(state+"-volatile", "services", "web", "hs_ed25519_secret_key")
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("onion key %s: %v %v, want mode 0600", key, fi.Mode(), err)
	}
	if fi, err := os.Stat(socket); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode %v %v, want 0660", fi.Mode(), err)
	}

	d.mustCLI("client", "add", "web", "alice")
	cred := strings.TrimSpace(d.mustCLI("client", "show", "web", "alice", "--format", "auth-private"))
	if !authPrivateLine.MatchString(cred) || !strings.HasPrefix(cred, strings.TrimSuffix(addr, ".onion")+":") {
		t.Fatalf("auth-private line %q does not fit %s", cred, addr)
	}
	if strings.Contains(d.log.String(), cred[strings.LastIndex(cred, ":")+1:]) {
		t.Fatal("the client's private key appears in the daemon log")
	}
	if list := d.mustCLI("client", "list", "web"); !strings.Contains(list, "name: alice") || strings.Contains(list, "credential") {
		t.Fatalf("client list:\n%s", list)
	}

	share := d.mustCLI("share", "web", "--client", "alice", "--qr")
	for _, want := range []string{"uri: http://" + addr + "/", "credential: " + cred, "# QR code: address", "# QR code: credential of alice"} {
		if !strings.Contains(share, want) {
			t.Fatalf("share lacks %q:\n%s", want, share)
		}
	}
	if plain := d.mustCLI("share", "web"); strings.Contains(plain, "QR code") || strings.Contains(plain, "credential:") {
		t.Fatalf("share without a terminal, --qr or --client:\n%s", plain)
	}

	alice := newOnionClient(t, "alice", cred)
	url := "http://" + addr + "/"
	fetch := func(c *onionClient) func() error {
		return func() error {
			page, err := c.curl(url)
			if err != nil {
				return err
			}
			if !strings.Contains(page, welcome) {
				return fmt.Errorf("unexpected page %q", page)
			}
			return nil
		}
	}

	t.Run("a/credential fetches the page", func(t *testing.T) {
		waitFor(t, 90*time.Second, "fetch with credential", fetch(alice))
	})

	t.Run("b/no credential is refused", func(t *testing.T) {
		eve := newOnionClient(t, "eve")
		if _, err := eve.curl(url); err == nil {
			t.Fatal("fetched the page without a credential")
		}
		// Tor says why: the descriptor needs client authorization.
		waitFor(t, 60*time.Second, "SOCKS error 0xF4 (missing client auth)", func() error {
			code, err := eve.socksCode(strings.TrimSuffix(addr, "/") + ":80")
			if err != nil {
				return err
			}
			if code != 0xF4 {
				return fmt.Errorf("SOCKS reply 0x%02X, want 0xF4", code)
			}
			return nil
		})
	})

	t.Run("c/tor killed with SIGKILL comes back", func(t *testing.T) {
		d := d.in(t)
		before := d.status().Tor
		if before.PID == 0 {
			t.Fatal("daemon reports no tor pid")
		}
		if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 60*time.Second, "tor restarted", func() error {
			st := d.status().Tor
			if st.PID == before.PID || st.State != "ready" {
				return fmt.Errorf("tor %s, pid %d", st.State, st.PID)
			}
			return nil
		})
		// The daemon proves the service reachable again by itself; then a
		// client tor started now, holding the same credential, fetches the
		// page at the same address. (A client tor that already knew the
		// service keeps Tor's client-side caches of the old descriptor and
		// of the directories it asked, and how soon it retries is Tor's
		// business, not the host's: under load that took minutes.)
		waitFor(t, 300*time.Second, "web reachable after tor restart", func() error {
			if s := d.service("web"); !s.Reachable {
				return fmt.Errorf("state %s: %s", s.State, s.Error)
			}
			return nil
		})
		again := newOnionClient(t, "alice-after-kill", cred)
		waitFor(t, 120*time.Second, "fetch after tor restart", fetch(again))
		if got := d.service("web").OnionAddress; got != addr {
			t.Fatalf("address changed to %s", got)
		}
	})

	parent := t
	t.Run("d/daemon restart keeps address and credential", func(t *testing.T) {
		d.stop()
		d = startDaemon(parent, state, socket)
		d := d.in(t)
		waitFor(t, 300*time.Second, "web reachable after daemon restart", func() error {
			s := d.service("web")
			if s.OnionAddress != addr {
				t.Fatalf("address changed from %s to %s", addr, s.OnionAddress)
			}
			if !s.Reachable {
				return fmt.Errorf("state %s: %s", s.State, s.Error)
			}
			return nil
		})
		if again := strings.TrimSpace(d.mustCLI("client", "show", "web", "alice", "--format", "auth-private")); again != cred {
			t.Fatalf("credential changed: %q", again)
		}
		again := newOnionClient(t, "alice-after-restart", cred)
		waitFor(t, 120*time.Second, "fetch after daemon restart", fetch(again))
	})

	t.Run("e/client remove revokes", func(t *testing.T) {
		d := d.in(t)
		d.mustCLI("client", "remove", "web", "alice")
		if out, _, code := d.cli("client", "show", "web", "alice"); code == 0 {
			t.Fatalf("removed client still shown:\n%s", out)
		}
		// A fresh tor holding alice's credential cannot get in.
		late := newOnionClient(t, "alice-late", cred)
		waitFor(t, 60*time.Second, "refused with alice's old credential", func() error {
			code, err := late.socksCode(addr + ":80")
			if err != nil {
				return err
			}
			if code != 0xF4 && code != 0xF5 {
				return fmt.Errorf("SOCKS reply 0x%02X, want a client-auth refusal", code)
			}
			return nil
		})
		// Nor can alice's own tor, once its cached descriptor is gone.
		waitFor(t, 120*time.Second, "alice's tor refused", func() error {
			if _, err := alice.curl(url); err == nil {
				return errors.New("alice still fetches the page")
			}
			return nil
		})
		// The service itself is still reachable (for the daemon).
		waitFor(t, 90*time.Second, "web still reachable", func() error {
			if s := d.service("web"); !s.Reachable {
				return fmt.Errorf("state %s", s.State)
			}
			return nil
		})
	})

	t.Run("disable withdraws the onion", func(t *testing.T) {
		d := d.in(t)
		d.mustCLI("client", "add", "web", "bob")
		bobCred := strings.TrimSpace(d.mustCLI("client", "show", "web", "bob", "--format", "auth-private"))
		bob := newOnionClient(t, "bob", bobCred)
		waitFor(t, 90*time.Second, "bob fetches", fetch(bob))
		out := d.mustCLI("disable", "web")
		if !strings.Contains(out, "state: disabled") {
			t.Fatalf("disable:\n%s", out)
		}
		waitFor(t, 120*time.Second, "bob refused after disable", func() error {
			if _, err := bob.curl(url); err == nil {
				return errors.New("page still served")
			}
			return nil
		})
	})
}

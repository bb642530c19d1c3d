package tor

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/onionkey"
	"tails-server/internal/testenv"
)

// Every tor these tests start has DisableNetwork 1 and SocksPort 0: it
// never reaches any network.
var offline = []string{"DisableNetwork 1", "SocksPort 0"}

// launchTor starts a tor through Launch (cookie authentication) and
// returns it with an authenticated connection.
func launchTor(t *testing.T, extra ...string) (*Process, *Conn) {
	t.Helper()
	bin := testenv.RequireTor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := Launch(ctx, LaunchOptions{Binary: bin, DataDir: filepath.Join(t.TempDir(), "tor"), Torrc: append(offline, extra...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	c, err := Dial(ctx, "tcp", p.ControlAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Authenticate(ctx, ""); err != nil {
		t.Fatal(err)
	}
	return p, c
}

// rawTor starts tor with only the given auth lines (no Launch), for the
// password and no-auth cases, and returns its control address.
func rawTor(t *testing.T, authLines ...string) string {
	t.Helper()
	bin := testenv.RequireTor(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o700)
	portFile := filepath.Join(dir, "port")
	lines := append(append([]string{}, offline...),
		"DataDirectory "+data,
		"ControlPort 127.0.0.1:auto",
		"ControlPortWriteToFile "+portFile,
		"GeoIPFile /dev/null",
		"GeoIPv6File /dev/null",
		"Log notice file "+filepath.Join(dir, "notice.log"),
	)
	lines = append(lines, authLines...)
	torrc := filepath.Join(dir, "torrc")
	os.WriteFile(torrc, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	cmd := exec.Command(bin, "--defaults-torrc", "/dev/null", "-f", torrc)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if a, ok := readPortFile(portFile); ok {
			return a
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "notice.log"))
	t.Fatalf("tor did not open its control port; log:\n%s", log)
	return ""
}

func TestTorSafeCookie(t *testing.T) {
	t.Parallel()
	p, c := launchTor(t)
	pi, err := c.ProtocolInfo(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(pi.AuthMethods, ","), "SAFECOOKIE") || pi.CookieFile != p.CookiePath {
		t.Errorf("ProtocolInfo = %+v", pi)
	}
	m, err := c.GetInfo(testCtx(t), "version")
	if err != nil {
		t.Fatal(err)
	}
	v, err := Version(p.Cmd.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m["version"], v) || pi.TorVersion != v {
		t.Errorf("GETINFO version = %q, PROTOCOLINFO %q, tor --version %q", m["version"], pi.TorVersion, v)
	}
	if err := CheckVersion(p.Cmd.Path, "0.4.8"); err != nil {
		t.Error(err)
	}
	if err := CheckVersion(p.Cmd.Path, "99.0"); err == nil || !strings.Contains(err.Error(), "apt-get install tor") {
		t.Errorf("CheckVersion(99.0) = %v", err)
	}
	fi, err := os.Stat(p.TorrcPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("torrc mode = %v, %v", fi.Mode(), err)
	}
}

func TestTorHashedPassword(t *testing.T) {
	t.Parallel()
	bin := testenv.RequireTor(t)
	out, err := exec.Command(bin, "--quiet", "--hash-password", "s3cret pass").Output()
	if err != nil {
		t.Fatal(err)
	}
	var hash string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "16:") {
			hash = strings.TrimSpace(l)
		}
	}
	if hash == "" {
		t.Fatalf("no hash in %q", out)
	}
	addr := rawTor(t, "HashedControlPassword "+hash)
	ctx := testCtx(t)

	c, err := Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(ctx, ""); err == nil || !strings.Contains(err.Error(), "needs a password") {
		t.Fatalf("Authenticate without a password = %v", err)
	}
	if err := c.Authenticate(ctx, "s3cret pass"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetInfo(ctx, "version"); err != nil {
		t.Fatal(err)
	}

	bad, err := Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	var re *ReplyError
	if err := bad.Authenticate(ctx, "wrong"); !errors.As(err, &re) || re.Code != 515 {
		t.Errorf("wrong password: %v, want 515", err)
	}
}

func TestTorNullAuth(t *testing.T) {
	t.Parallel()
	addr := rawTor(t) // no CookieAuthentication, no password
	ctx := testCtx(t)
	c, err := Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetInfo(ctx, "version"); err != nil {
		t.Fatal(err)
	}
}

func TestTorConfAndEvents(t *testing.T) {
	t.Parallel()
	_, c := launchTor(t)
	ctx := testCtx(t)
	events, cancel, err := c.Subscribe("CONF_CHANGED")
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	if err := c.SetConf(ctx, KeyValue{"Nickname", "tailsTest"}, KeyValue{"ContactInfo", "a b c"}); err != nil {
		t.Fatal(err)
	}
	// Commands keep working while the event is pending.
	conf, err := c.GetConf(ctx, "nickname", "ContactInfo", "SocksPort")
	if err != nil {
		t.Fatal(err)
	}
	if got := conf["nickname"]; len(got) != 1 || got[0] != "tailsTest" {
		t.Errorf("Nickname = %q", got)
	}
	if got := conf["ContactInfo"]; len(got) != 1 || got[0] != "a b c" {
		t.Errorf("ContactInfo = %q", got)
	}
	if _, err := c.GetInfo(ctx, "version", "config-text"); err != nil {
		t.Fatal(err)
	}
	ev := recvEvent(t, events)
	if ev.Type != "CONF_CHANGED" || !strings.Contains(strings.Join(ev.Lines, "\n"), "Nickname=tailsTest") {
		t.Errorf("event = %+v", ev)
	}
	if err := c.Signal(ctx, "NEWNYM"); err != nil {
		t.Error(err)
	}
	if err := c.Signal(ctx, "NOSUCH"); err == nil {
		t.Error("SIGNAL NOSUCH accepted")
	}
	var re *ReplyError
	if _, err := c.GetInfo(ctx, "no-such-key"); !errors.As(err, &re) || re.Code != 552 {
		t.Errorf("GETINFO no-such-key: %v", err)
	}
	// Reset to default.
	if err := c.SetConf(ctx, KeyValue{Key: "ContactInfo"}); err != nil {
		t.Fatal(err)
	}
	if conf, err := c.GetConf(ctx, "ContactInfo"); err != nil || len(conf["ContactInfo"]) != 0 {
		t.Errorf("ContactInfo after reset = %q, %v", conf, err)
	}
}

func TestTorOnions(t *testing.T) {
	t.Parallel()
	_, c := launchTor(t)
	ctx := testCtx(t)

	// A new key: tor's blob parses and matches the ServiceID.
	r, err := c.AddOnion(ctx, AddOnionRequest{Ports: []PortMapping{{80, "127.0.0.1:8080"}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Key == nil || r.Key.Address() != r.ServiceID {
		t.Fatalf("reply %v: key does not match the ServiceID", r)
	}
	if err := c.DelOnion(ctx, r.ServiceID+".onion"); err != nil {
		t.Fatal(err)
	}
	// The same key again: same ServiceID; several ports, a unix target.
	r2, err := c.AddOnion(ctx, AddOnionRequest{Key: r.Key, Ports: []PortMapping{
		{80, "127.0.0.1:8080"}, {443, "8443"}, {22, ""}, {8000, "unix:/tmp/tails-server-test.sock"},
	}, MaxStreams: 10, Flags: []string{"MaxStreamsCloseCircuit"}})
	if err != nil {
		t.Fatal(err)
	}
	if r2.ServiceID != r.ServiceID || r2.Key != nil {
		t.Errorf("re-added with the same key: %+v", r2)
	}
	onions, err := c.GetInfo(ctx, "onions/current")
	if err != nil || !strings.Contains(onions["onions/current"], r.ServiceID) {
		t.Errorf("onions/current = %q, %v", onions, err)
	}
	// Our own key, and client authorization with two keys.
	k, _ := onionkey.GenerateServiceKey()
	ck1, _ := onionkey.GenerateClientKey()
	ck2, _ := onionkey.GenerateClientKey()
	r3, err := c.AddOnion(ctx, AddOnionRequest{Key: k, Ports: []PortMapping{{80, "8080"}},
		ClientAuthV3: []string{ck1.PublicBase32(), ck2.PublicBase32()}, Flags: []string{"DiscardPK"}})
	if err != nil {
		t.Fatal(err)
	}
	if r3.ServiceID != k.Address() {
		t.Errorf("ServiceID %s, want %s", r3.ServiceID, k.Address())
	}
	var re *ReplyError
	if err := c.DelOnion(ctx, k.Address()); err != nil {
		t.Fatal(err)
	}
	if err := c.DelOnion(ctx, k.Address()); !errors.As(err, &re) || re.Code != 552 {
		t.Errorf("deleting twice: %v", err)
	}
	// A new key with DiscardPK: no key comes back.
	r4, err := c.AddOnion(ctx, AddOnionRequest{Ports: []PortMapping{{80, ""}}, Flags: []string{"DiscardPK"}})
	if err != nil || r4.Key != nil || !onionkey.ValidAddress(r4.ServiceID) {
		t.Errorf("DiscardPK: %+v, %v", r4, err)
	}
}

func TestTorClientAuth(t *testing.T) {
	t.Parallel()
	p, c := launchTor(t)
	authDir := filepath.Join(p.DataDir, "client-auth")
	if err := os.Mkdir(authDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if err := c.SetConf(ctx, KeyValue{"ClientOnionAuthDir", authDir}); err != nil {
		t.Fatal(err)
	}
	s1, _ := onionkey.GenerateServiceKey()
	s2, _ := onionkey.GenerateServiceKey()
	k1, _ := onionkey.GenerateClientKey()
	k2, _ := onionkey.GenerateClientKey()
	if err := c.OnionClientAuthAdd(ctx, s1.Address()+".onion", k1, "alice", false); err != nil {
		t.Fatal(err)
	}
	if err := c.OnionClientAuthAdd(ctx, s2.Address(), k2, "", true); err != nil {
		t.Fatal(err)
	}
	all, err := c.OnionClientAuthView(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]ClientAuthEntry{}
	for _, e := range all {
		found[e.Address] = e
	}
	if e := found[s1.Address()]; e.Key == nil || e.Key.PrivateBase64() != k1.PrivateBase64() || e.ClientName != "alice" {
		t.Errorf("entry for s1 = %+v", e)
	}
	if e := found[s2.Address()]; e.Key == nil || e.Key.PrivateBase64() != k2.PrivateBase64() || strings.Join(e.Flags, ",") != "Permanent" {
		t.Errorf("entry for s2 = %+v", e)
	}
	// The permanent one is in ClientOnionAuthDir, in .auth_private form.
	files, _ := filepath.Glob(filepath.Join(authDir, "*.auth_private"))
	if len(files) != 1 {
		t.Fatalf("auth_private files: %v", files)
	}
	b, _ := os.ReadFile(files[0])
	addr, key, err := onionkey.ParseAuthPrivateLine(string(b))
	if err != nil || addr != s2.Address() || key.PrivateBase32() != k2.PrivateBase32() {
		t.Errorf("tor's auth_private file parses as %s, %v, %v", addr, key, err)
	}
	one, err := c.OnionClientAuthView(ctx, s1.Address())
	if err != nil || len(one) != 1 {
		t.Fatalf("view s1: %+v, %v", one, err)
	}
	if err := c.OnionClientAuthRemove(ctx, s1.Address()); err != nil {
		t.Fatal(err)
	}
	if err := c.OnionClientAuthRemove(ctx, s2.Address()); err != nil {
		t.Fatal(err)
	}
	if rest, err := c.OnionClientAuthView(ctx, ""); err != nil || len(rest) != 0 {
		t.Errorf("after removal: %+v, %v", rest, err)
	}
}

func TestTorDiesClosesConn(t *testing.T) {
	t.Parallel()
	p, c := launchTor(t)
	events, _, err := c.Subscribe("STATUS_GENERAL")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("connection not done after tor exited")
	}
	for range events {
	}
	select {
	case <-p.Exited():
	default:
		t.Error("Exited not closed after Stop")
	}
	if c.Err() == nil {
		t.Error("Err() = nil")
	}
}

func TestLaunchFailureQuotesLog(t *testing.T) {
	t.Parallel()
	bin := testenv.RequireTor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := Launch(ctx, LaunchOptions{Binary: bin, DataDir: t.TempDir() + "/tor", Torrc: append(offline, "NoSuchOption 1")})
	if err == nil || !strings.Contains(err.Error(), "NoSuchOption") {
		t.Errorf("error = %v, want it to quote tor's complaint", err)
	}
	_, err = Launch(ctx, LaunchOptions{Binary: bin, DataDir: t.TempDir(), Torrc: []string{"DisableNetwork 1\nSocksPort 9050"}})
	if err == nil || strings.Contains(err.Error(), "9050") {
		t.Errorf("torrc line with LF: %v", err)
	}
	_, err = Launch(ctx, LaunchOptions{Binary: bin, DataDir: t.TempDir(), Torrc: append(offline, "ControlPort 1")})
	if err == nil || !strings.Contains(err.Error(), "sets ControlPort") {
		t.Errorf("torrc line setting ControlPort: %v", err)
	}
	_, err = Launch(ctx, LaunchOptions{Binary: "/nonexistent/tor", DataDir: t.TempDir()})
	if err == nil || err.Error() != "tor not found: install Debian's tor (apt-get install tor)" {
		t.Errorf("missing binary: %v", err)
	}
}

func TestLaunchProblem(t *testing.T) {
	log := `Nov 26 03:59:18.000 [warn] Option 'GeoIPFile' used more than once; all but the last value will be ignored.
Nov 26 03:59:18.000 [warn] You have used DirAuthority or AlternateDirAuthority to specify alternate directory authorities in your configuration.
Nov 26 03:59:18.000 [warn] You are running Tor as root. You don't need to, and you probably shouldn't.
Nov 26 03:59:18.496 [notice] Opened Control listener connection (ready) on 127.0.0.1:38035
Nov 26 03:59:18.496 [warn] Could not bind to 127.0.0.1:29050: Address already in use. Is Tor already running?
Nov 26 03:59:18.496 [warn] Failed to parse/validate config: Failed to bind one of the listener ports.
Nov 26 03:59:18.496 [err] Reading config failed--see warnings above.`
	if got := launchProblem(log); got != "Could not bind to 127.0.0.1:29050: Address already in use. Is Tor already running?" {
		t.Errorf("launchProblem = %q", got)
	}
	if got := launchProblem("Nov 26 [err] Reading config failed--see warnings above.\n"); got != "" {
		t.Errorf("only general lines: %q, want none", got)
	}
	if got := launchProblem("Nov 26 [warn] Failed to parse/validate config: Unknown option 'NoSuchOption'.  Failing.\nNov 26 [err] Reading config failed--see warnings above.\n"); got != "Failed to parse/validate config: Unknown option 'NoSuchOption'.  Failing." {
		t.Errorf("general line only: %q, want its words", got)
	}
}

func TestTorUnixSocket(t *testing.T) {
	t.Parallel()
	bin := testenv.RequireTor(t)
	ctx := testCtx(t)
	dir := filepath.Join(t.TempDir(), "tor")
	sock := filepath.Join(dir, "control.sock")
	p, err := Launch(ctx, LaunchOptions{Binary: bin, DataDir: dir, Torrc: append(offline, "ControlSocket "+sock)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	var c *Conn
	// tor opens its listeners together, but give the socket a moment.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err = Dial(ctx, "unix", sock); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetInfo(ctx, "version"); err != nil {
		t.Fatal(err)
	}
}

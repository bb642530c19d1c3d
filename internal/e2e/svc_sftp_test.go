package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
	"tails-server/internal/testenv"
)

// sftpLogin is the login user of the sftp service (its backend user).
const sftpLogin = "tails-server-sftp"

// sftpRootDir is a temporary directory whose every parent belongs to root
// and is writable by no one else, as sshd's ChrootDirectory demands of the
// service's data folder (t.TempDir() lies under the world-writable /tmp).
// Parents are traversable (0711), as for backendTempDir.
func sftpRootDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("/run", "tails-server-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// sftpUser runs the real OpenSSH clients (sftp, ssh) against the service's
// onion, through a client tor's SOCKS port with netcat-openbsd as the
// ProxyCommand, checking the host key strictly against known_hosts.
type sftpUser struct {
	dir        string // HOME, keys, known_hosts
	key        string // private key file; "" for password login
	password   string // for password login (given by SSH_ASKPASS)
	knownHosts string
	socks      string
	host       string // onion host name
}

// newSFTPKey makes an ed25519 key pair and returns the private key's path
// and the public key line.
func newSFTPKey(t testing.TB, dir, name string) (string, string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name+"@e2e", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return path, strings.TrimSpace(string(pub))
}

// args are the options common to sftp and ssh.
func (u *sftpUser) args() []string {
	a := []string{"-F", "/dev/null",
		"-o", "UserKnownHostsFile=" + u.knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "ProxyCommand=nc -X 5 -x " + u.socks + " %h %p",
		"-o", "ConnectTimeout=60", "-o", "ServerAliveInterval=15"}
	if u.key != "" {
		return append(a, "-i", u.key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
			"-o", "PreferredAuthentications=publickey")
	}
	return append(a, "-o", "BatchMode=no", "-o", "PubkeyAuthentication=no",
		"-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1")
}

// run runs an OpenSSH client with stdin and returns stdout, stderr and
// the error of its exit.
func (u *sftpUser) run(ctx context.Context, prog string, stdin string, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "HOME=" + u.dir, "LANG=C.UTF-8"}
	if u.key == "" {
		// The password comes from an askpass helper, read from the
		// environment: never on a command line.
		askpass := filepath.Join(u.dir, "askpass")
		if err := os.WriteFile(askpass, []byte("#!/bin/sh\nprintf '%s\\n' \"$SFTP_E2E_PASSWORD\"\n"), 0o700); err != nil {
			return "", "", err
		}
		cmd.Env = append(cmd.Env, "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=none",
			"SFTP_E2E_PASSWORD="+u.password)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// sftp runs an sftp batch (commands one per line; -b aborts at the first
// failing one).
func (u *sftpUser) sftp(batch string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append(u.args(), "-b", "-", "-P", "22", sftpLogin+"@"+u.host)
	return u.run(ctx, "sftp", batch, args...)
}

// ssh runs ssh with extra arguments before the destination and after it.
func (u *sftpUser) ssh(ctx context.Context, before []string, after ...string) (string, string, error) {
	args := append(append(u.args(), before...), "-p", "22", sftpLogin+"@"+u.host)
	return u.run(ctx, "ssh", "", append(args, after...)...)
}

// roundTrip uploads random bytes as name, downloads them again and
// compares; it returns the bytes.
func (u *sftpUser) roundTrip(name string) ([]byte, error) {
	data := make([]byte, 96*1024+7)
	rand.Read(data)
	up, down := filepath.Join(u.dir, "up-"+name), filepath.Join(u.dir, "down-"+name)
	os.Remove(down)
	if err := os.WriteFile(up, data, 0o600); err != nil {
		return nil, err
	}
	if _, stderr, err := u.sftp(fmt.Sprintf("put %s %s\nget %s %s\n", up, name, name, down)); err != nil {
		return nil, fmt.Errorf("sftp put/get: %v: %s", err, strings.TrimSpace(stderr))
	}
	got, err := os.ReadFile(down)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(got, data) {
		return nil, fmt.Errorf("downloaded %d bytes differ from the %d uploaded", len(got), len(data))
	}
	return data, nil
}

// download fetches name and returns its bytes.
func (u *sftpUser) download(name string) ([]byte, error) {
	down := filepath.Join(u.dir, "got-"+name)
	os.Remove(down)
	if _, stderr, err := u.sftp(fmt.Sprintf("get %s %s\n", name, down)); err != nil {
		return nil, fmt.Errorf("sftp get: %v: %s", err, strings.TrimSpace(stderr))
	}
	return os.ReadFile(down)
}

// sshdDirectives counts the directives of an sshd_config.
func sshdDirectives(text string) int {
	n := 0
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" && l[0] != '#' {
			n++
		}
	}
	return n
}

// sourceLogin reads login.sh back the way prepare.sh does, by sourcing it
// with sh, and returns the variables it sets.
func sourceLogin(t *testing.T, path string) (keys, login, password string) {
	t.Helper()
	out, err := exec.Command("sh", "-c", `. "$1" && printf '%s\0%s\0%s' "$AUTHORIZED_KEYS" "$PASSWORD_LOGIN" "$PASSWORD"`, "sh", path).Output()
	if err != nil {
		t.Fatalf("sourcing %s: %v", path, err)
	}
	f := strings.Split(string(out), "\x00")
	if len(f) != 3 {
		t.Fatalf("sourcing %s gave %d fields", path, len(f))
	}
	return f[0], f[1], f[2]
}

// sftpFingerprint is OpenSSH's SHA256 fingerprint of a public key line.
func sftpFingerprint(t *testing.T, keyLine string) string {
	t.Helper()
	f := strings.Fields(keyLine)
	if len(f) < 2 || f[0] != "ssh-ed25519" {
		t.Fatalf("host key %q is not an ssh-ed25519 key line", keyLine)
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		t.Fatalf("host key: %v", err)
	}
	sum := sha256.Sum256(blob)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

func shareDetail(sh apitype.Share, label string) string {
	for _, d := range sh.Details {
		if d.Label == label {
			return d.Value
		}
	}
	return ""
}

// TestServiceSFTP enables the sftp service (an sshd of its own, SFTP only,
// chrooted) and proves it with the real sftp and ssh clients through the
// onion: the host key shown by share is the one the server presents; a
// file goes up and comes back byte for byte; commands and port forwarding
// are refused; then kill -9, each option, and hostile values.
func TestServiceSFTP(t *testing.T) {
	requireNet(t)
	for _, p := range []string{"sftp", "ssh", "ssh-keygen", "nc", "unshare"} {
		testenv.RequireProgram(t, p)
	}
	testenv.RequireProgram(t, "sshd")
	tmp := sftpRootDir(t)
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"))
	keys := t.TempDir()
	aliceKey, alicePub := newSFTPKey(t, keys, "alice")
	bobKey, bobPub := newSFTPKey(t, keys, "bob")

	d.mustCLI("set-option", "sftp", "authorized-keys", "# the group's keys\n"+alicePub+"\n")
	if out := d.mustCLI("enable", "sftp", "--wait", "240s"); !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable sftp:\n%s", out)
	}
	d.mustCLI("client", "add", "sftp", "ann")
	cred := strings.TrimSpace(d.mustCLI("client", "show", "sftp", "ann", "--format", "auth-private"))
	sh, err := client.New(d.socket).Share(context.Background(), "sftp", "")
	if err != nil {
		t.Fatal(err)
	}
	s := &catalogSvc{d: d, name: "sftp", addr: sh.OnionAddress, port: sh.OnionPort, client: newOnionClient(t, "sftp-ann", cred)}
	dataDir := filepath.Join(d.service("sftp").Details.DataDir, "data")

	// known_hosts from what share shows, after checking that the
	// fingerprint shown is the host key's.
	hostKey, fp := shareDetail(sh, "Host key"), shareDetail(sh, "Host key fingerprint")
	if got := sftpFingerprint(t, hostKey); got != fp {
		t.Fatalf("share shows fingerprint %q, but its host key's is %q", fp, got)
	}
	knownHosts := filepath.Join(keys, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(s.addr+" "+hostKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	user := func(key, password string) *sftpUser {
		return &sftpUser{dir: keys, key: key, password: password, knownHosts: knownHosts, socks: s.client.tor.SocksAddr, host: s.addr}
	}
	alice, bob := user(aliceKey, ""), user(bobKey, "")
	roundTrip := func(t *testing.T, u *sftpUser, what, name string) {
		t.Helper()
		waitFor(t, 120*time.Second, what, func() error {
			data, err := u.roundTrip(name)
			if err != nil {
				return err
			}
			// The file is in the service's data folder, under files/.
			if onDisk, err := os.ReadFile(filepath.Join(dataDir, "files", name)); err != nil || !bytes.Equal(onDisk, data) {
				return fmt.Errorf("uploaded file on the server: %v (equal %v)", err, bytes.Equal(onDisk, data))
			}
			return nil
		})
	}
	refused := func(t *testing.T, u *sftpUser, want string) {
		t.Helper()
		_, stderr, err := u.sftp("ls\n")
		if err == nil || !strings.Contains(stderr, want) {
			t.Fatalf("login not refused (err %v), stderr %q, want %q", err, stderr, want)
		}
	}

	roundTrip(t, alice, "upload and download through the onion", "first.bin")

	t.Run("share", func(t *testing.T) {
		if want := "sftp://" + sftpLogin + "@" + s.addr + ":22/files/"; sh.URI != want || sh.OnionPort != 22 {
			t.Errorf("share uri %q port %d, want %q port 22", sh.URI, sh.OnionPort, want)
		}
		if !strings.Contains(sh.Instructions, "Files") || !strings.Contains(sh.Instructions, "Other Locations") {
			t.Errorf("share instructions %q", sh.Instructions)
		}
		if got := shareDetail(sh, "Login user"); got != sftpLogin {
			t.Errorf("login user %q", got)
		}
		// Another host key in known_hosts: the client refuses the server.
		other := filepath.Join(keys, "known_hosts.other")
		_, otherPub := newSFTPKey(t, keys, "other")
		os.WriteFile(other, []byte(s.addr+" "+otherPub[:strings.LastIndexByte(otherPub, ' ')]+"\n"), 0o600)
		u := *alice
		u.knownHosts = other
		if _, stderr, err := u.sftp("ls\n"); err == nil || !strings.Contains(stderr, "Host key verification failed") {
			t.Fatalf("a wrong host key was accepted: %v, %q", err, stderr)
		}
	})

	t.Run("a key not authorized is refused", func(t *testing.T) {
		refused(t, bob, "Permission denied")
	})

	t.Run("commands and forwarding are refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, stderr, err := alice.ssh(ctx, []string{"-n"}, "id")
		if err == nil || strings.Contains(out, "uid=") || !strings.Contains(out+stderr, "sftp connections only") {
			t.Fatalf("ssh with a command: err %v, stdout %q, stderr %q", err, out, stderr)
		}
		out, stderr, _ = alice.ssh(ctx, []string{"-tt"})
		if !strings.Contains(stderr, "PTY allocation request failed") || strings.Contains(out, "$ ") || strings.Contains(out, "# ") {
			t.Fatalf("ssh with a terminal: stdout %q, stderr %q", out, stderr)
		}

		// A target the forwarding would reach, counting connections.
		target, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer target.Close()
		var reached atomic.Int32
		go func() {
			for {
				c, err := target.Accept()
				if err != nil {
					return
				}
				reached.Add(1)
				c.Close()
			}
		}()
		free, _ := net.Listen("tcp", "127.0.0.1:0")
		local := free.Addr().String()
		free.Close()
		fctx, fcancel := context.WithCancel(ctx)
		fwdErr := &syncBuffer{} // written by exec's goroutine while we poll it
		fwd := exec.CommandContext(fctx, "ssh", append(alice.args(), "-N", "-L", local+":"+target.Addr().String(),
			"-p", "22", sftpLogin+"@"+s.addr)...)
		fwd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + keys}
		fwd.Stderr = fwdErr
		if err := fwd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { fcancel(); fwd.Wait() }()
		waitFor(t, 90*time.Second, "ssh -L listening", func() error {
			c, err := net.Dial("tcp", local)
			if err != nil {
				return err
			}
			c.SetDeadline(time.Now().Add(30 * time.Second))
			c.Write([]byte("hello\n"))
			io.Copy(io.Discard, c)
			c.Close()
			return nil
		})
		waitFor(t, 30*time.Second, "the server refuses the tunnel", func() error {
			if !strings.Contains(fwdErr.String(), "administratively prohibited") {
				return errors.New("no refusal yet")
			}
			return nil
		})
		if n := reached.Load(); n != 0 {
			t.Fatalf("ssh -L reached the target %d times", n)
		}
		_, stderr, err = alice.ssh(ctx, []string{"-N", "-o", "ExitOnForwardFailure=yes", "-R", "127.0.0.1:0:" + target.Addr().String()})
		if err == nil || !strings.Contains(stderr, "remote port forwarding failed") {
			t.Fatalf("ssh -R: err %v, stderr %q", err, stderr)
		}
	})

	t.Run("no client address in the log", func(t *testing.T) {
		logs, err := client.New(d.socket).Logs(context.Background(), "sftp", 1000)
		if err != nil {
			t.Fatal(err)
		}
		if all := strings.Join(logs, "\n"); strings.Contains(all, "127.0.0.1") || strings.Contains(all, "port ") {
			t.Fatalf("backend log names a client:\n%s", all)
		}
	})

	t.Run("kill -9 of sshd", func(t *testing.T) {
		s.kill9(t)
		roundTrip(t, alice, "upload and download after the restart", "after-kill.bin")
	})

	t.Run("set-option read-only", func(t *testing.T) {
		s.set(t, "read-only", "true")
		if conf := s.config(t, "sshd_config"); !strings.Contains(conf, "ForceCommand internal-sftp -R") {
			t.Fatalf("sshd_config not re-rendered:\n%s", conf)
		}
		want, _ := os.ReadFile(filepath.Join(dataDir, "files", "first.bin"))
		waitFor(t, 120*time.Second, "download in read-only mode", func() error {
			got, err := alice.download("first.bin")
			if err == nil && !bytes.Equal(got, want) {
				err = errors.New("downloaded bytes differ")
			}
			return err
		})
		up := filepath.Join(keys, "ro.txt")
		os.WriteFile(up, []byte("not allowed"), 0o600)
		_, stderr, err := alice.sftp("put " + up + " ro.txt\n")
		if err == nil || !strings.Contains(stderr, "Permission denied") {
			t.Fatalf("upload in read-only mode: err %v, stderr %q", err, stderr)
		}
		if _, err := os.Stat(filepath.Join(dataDir, "files", "ro.txt")); !os.IsNotExist(err) {
			t.Fatalf("the refused upload landed: %v", err)
		}
		s.set(t, "read-only", "false")
		roundTrip(t, alice, "upload after read-only off", "rw-again.bin")
	})

	password := s.option(t, "password")
	t.Run("set-option password-login", func(t *testing.T) {
		if len(password) != 20 {
			t.Fatalf("generated password has %d characters, want 20", len(password))
		}
		refused(t, user("", password), "Permission denied")
		s.set(t, "password-login", "true")
		if sh, _ := client.New(d.socket).Share(context.Background(), "sftp", ""); shareDetail(sh, "Password") != password {
			t.Errorf("share does not show the password once password login is on")
		}
		roundTrip(t, user("", password), "password login", "by-password.bin")
		refused(t, user("", password+"x"), "Permission denied")
	})

	t.Run("set-option password", func(t *testing.T) {
		s.set(t, "password", "Second-Password-42")
		roundTrip(t, user("", "Second-Password-42"), "login with the new password", "new-password.bin")
		refused(t, user("", password), "Permission denied")
		password = "Second-Password-42"
	})

	t.Run("set-option authorized-keys", func(t *testing.T) {
		s.set(t, "authorized-keys", bobPub)
		roundTrip(t, bob, "bob's key after the change", "bob.bin")
		refused(t, alice, "Permission denied")
		s.set(t, "authorized-keys", alicePub+"\n"+bobPub+"\n")
		roundTrip(t, alice, "alice's key back", "alice-back.bin")
	})

	t.Run("hostile values", func(t *testing.T) {
		loginSh := filepath.Join(d.service("sftp").Details.DataDir, "config", "login.sh")
		count := func(t *testing.T) int { return sshdDirectives(s.config(t, "sshd_config")) }

		// Bare hostile values are no public keys: refused, one line.
		s.hostile(t, "authorized-keys", count, func(t *testing.T, v string) {
			t.Fatalf("authorized-keys took %q", v)
		})
		for _, v := range []string{
			bobPub + "\ncommand=\"/bin/sh\" " + alicePub,
			bobPub + "\r\n" + alicePub,
			"ssh-ed25519 AAAA$(id)",
		} {
			_, stderr, code := s.d.in(t).cli("set-option", "sftp", "authorized-keys", v)
			wantOneLineError(t, stderr, code, 1, "authorized-keys")
		}
		// A key the pattern lets through but ssh-keygen cannot read: the
		// pre-start hook refuses it and the old keys stay.
		_, stderr, code := s.d.in(t).cli("set-option", "sftp", "authorized-keys", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAbroken")
		wantOneLineError(t, stderr, code, 1, "authorized-keys: line 1 is not a public key")
		if got := s.option(t, "authorized-keys"); got != alicePub+"\n"+bobPub+"\n" {
			t.Fatalf("a refused key list changed the option to %q", got)
		}

		// Hostile text in a key's comment lands verbatim, one key a line.
		marker := filepath.Join(keys, "pwned")
		want := count(t)
		for _, comment := range []string{`quo"te 'single'`, "{{.port}} {{ printf \"x\" }}", "$(touch " + marker + ") `touch " + marker + "`", "semi;colon # hash", `back\slash`} {
			v := alicePub + " " + comment + "\n" + bobPub
			pid := s.backendPID(t)
			d.in(t).mustCLI("set-option", "sftp", "authorized-keys", v)
			s.waitRestarted(t, pid)
			ak := s.config(t, "authorized_keys")
			if ak != v+"\n" {
				t.Fatalf("authorized_keys is %q, want %q", ak, v+"\n")
			}
			if n := count(t); n != want {
				t.Fatalf("sshd_config has %d directives with a hostile comment, want %d", n, want)
			}
			if k, _, _ := sourceLogin(t, loginSh); k != v {
				t.Fatalf("login.sh carries %q, want %q", k, v)
			}
			roundTrip(t, alice, "login with a hostile comment on the key", "comment.bin")
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("a key comment ran a command")
			}
		}

		// The password: refused, or verbatim in login.sh and working.
		s.hostile(t, "password", count, func(t *testing.T, v string) {
			if _, _, p := sourceLogin(t, loginSh); p != v {
				t.Fatalf("login.sh carries password %q, want %q", p, v)
			}
			roundTrip(t, user("", v), "login with a hostile password", "hostile-password.bin")
		})
	})
}

// BenchmarkEnable_sftp measures the seconds from `enable sftp` (the
// package installed, the service enabled once before so that its host key
// and client exist) to the first successful sftp listing through the
// onion, by the real sftp client through a client tor started before the
// timer.
func BenchmarkEnable_sftp(b *testing.B) {
	if _, err := exec.LookPath("sftp"); err != nil {
		b.Fatal("openssh-client not installed: run scripts/deps.sh")
	}
	keys := b.TempDir()
	key, pub := newSFTPKey(b, keys, "bench")
	knownHosts := filepath.Join(keys, "known_hosts")
	benchEnableRoot(b, "sftp", func(ctx context.Context, c *client.Client) error {
		_, err := c.SetOption(ctx, "sftp", "authorized-keys", pub)
		return err
	}, func(sh apitype.Share, socks string) error {
		if _, err := os.Stat(knownHosts); err != nil {
			os.WriteFile(knownHosts, []byte(sh.OnionAddress+" "+shareDetail(sh, "Host key")+"\n"), 0o600)
		}
		u := &sftpUser{dir: keys, key: key, knownHosts: knownHosts, socks: socks, host: sh.OnionAddress}
		_, stderr, err := u.sftp("ls\n")
		if err != nil {
			return fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr))
		}
		return nil
	})
}

// benchEnableRoot times `enable NAME` → the first successful attempt
// through the onion, for a service whose state must lie in a root-owned
// tree (sftpRootDir). setup configures the service before its first
// enable; attempt gets what share shows and the client tor's SOCKS
// address.
func benchEnableRoot(b *testing.B, name string, setup func(context.Context, *client.Client) error,
	attempt func(sh apitype.Share, socks string) error) {
	if tnet == nil {
		b.Fatal("no private network: run `make bench`")
	}
	c := client.New(benchDaemonIn(b, sftpRootDir(b)).socket)
	ctx := context.Background()
	if err := setup(ctx, c); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Enable(ctx, name, 4*time.Minute); err != nil {
		b.Fatal(err)
	}
	sh, err := c.Share(ctx, name, "")
	if err != nil {
		b.Fatal(err)
	}
	timeEnables(b, c, name, func(socksAddr string) error { return attempt(sh, socksAddr) })
}

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/testenv"
)

// transcript is everything a user, or another local user, could see of a
// session: each piece named by where it came from, with the kinds of
// secret it is meant to show (`client show` shows a client's key).
type transcript struct {
	mu     sync.Mutex
	pieces map[string]piece
}

type piece struct {
	text  string
	allow []string // kinds of secret this output exists to show
}

func (tr *transcript) add(where, text string, allow ...string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.pieces == nil {
		tr.pieces = map[string]piece{}
	}
	p := tr.pieces[where]
	p.text += text
	p.allow = append(p.allow, allow...)
	tr.pieces[where] = p
}

// Kinds of secret.
const (
	kindClientKey = "client key"
	kindPassword  = "password"
	kindOnionKey  = "onion key"
	kindToken     = "login token"
	kindCookie    = "control cookie"
	// refused, as the only kind, tells the session's run that the command
	// must fail.
	refused = "refused"
)

// secret is one piece of key material or a password, in each encoding it
// could be written in.
type secret struct {
	what, kind string
	forms      []string
}

// find returns where each secret appears in an output not meant to show
// its kind.
func find(secrets []secret, pieces map[string]piece) []string {
	var found []string
	for _, s := range secrets {
		for where, p := range pieces {
			if slices.Contains(p.allow, s.kind) {
				continue
			}
			for _, f := range s.forms {
				if len(f) >= 8 && strings.Contains(p.text, f) {
					found = append(found, fmt.Sprintf("%s in %s", s.what, where))
					break
				}
			}
		}
	}
	sort.Strings(found)
	return found
}

// procSampler reads every process's argument list and environment over
// and over while the session runs.
type procSampler struct {
	seen map[string]bool
	stop chan struct{}
	done chan struct{}
}

func startProcSampler() *procSampler {
	p := &procSampler{seen: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			dirs, _ := filepath.Glob("/proc/[0-9]*")
			for _, dir := range dirs {
				for _, f := range []string{"cmdline", "environ"} {
					if b, err := os.ReadFile(dir + "/" + f); err == nil && len(b) > 0 {
						comm, _ := os.ReadFile(dir + "/comm")
						p.seen[strings.TrimSpace(string(comm))+" "+f+": "+string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))] = true
					}
				}
			}
			select {
			case <-p.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return p
}

func (p *procSampler) finish() string {
	close(p.stop)
	<-p.done
	var b strings.Builder
	for l := range p.seen {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// TestSecretsNeverLeak is issue 12's secrets campaign: a scripted session
// through the real CLI (several services, clients, share, set-option of
// secrets through -, info, status, list, logs, a GUI login), then every
// log, every CLI output not meant to show a secret, every API answer
// without show_secrets, the backends' logs, and the argument lists and
// environments of all processes sampled during the session, searched for
// the session's onion keys, client keys, passwords and login tokens.
// Figure: "secrets found: N" (goal 0). It takes about 10 s, so make test
// runs it too.
func TestSecretsNeverLeak(t *testing.T) {
	requireNet(t)
	for _, p := range []string{"ngircd", "infinoted", "murmurd", "sshd"} {
		testenv.RequireProgram(t, p)
	}
	sampler := startProcSampler()
	procDone := false
	defer func() {
		if !procDone {
			sampler.finish()
		}
	}()
	tmp := sftpRootDir(t) // sshd chroots into sftp's data dir
	state, volatile := filepath.Join(tmp, "state"), filepath.Join(tmp, "state-volatile")
	d := startDaemon(t, state, filepath.Join(tmp, "api.sock"))
	seen := &transcript{}
	// run runs the CLI; allow are the kinds of secret its output exists
	// to show (its stderr never may).
	run := func(allow []string, stdin string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "TAILS_SERVER_SOCKET="+d.socket)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		where := "`tails-server " + strings.Join(args, " ") + "`"
		wantFail := len(allow) == 1 && allow[0] == refused
		if wantFail {
			allow = nil
		}
		seen.add(where, out.String(), allow...)
		seen.add(where+" stderr", errb.String())
		if (err != nil) != wantFail {
			t.Fatalf("%s: %v (want failure %v)\n%s%s\ndaemon log:\n%s", where, err, wantFail, out.String(), errb.String(), d.log)
		}
		return out.String()
	}

	var (
		none       []string
		passwords  = []string{kindPassword}
		clientKeys = []string{kindClientKey}
		both       = []string{kindPassword, kindClientKey}
	)
	var secrets []secret
	services := []string{"web", "fileshare", "irc", "gobby", "mumble", "sftp"}
	// sftp's password goes to the system's account of its login user:
	// where a password would most likely pass through a command line.
	sftpPass := "Sftp" + randomAlnum(t, 20)
	run(none, "", "set-option", "sftp", "password-login", "true")
	run(none, sftpPass+"\n", "set-option", "sftp", "password", "-")
	secrets = append(secrets, secret{"sftp password (set through -, before enable)", kindPassword, []string{sftpPass}})
	enableConcurrently(t, d, services...)
	// The secret options: generated ones, then new values set through -.
	ircPass := "Irc" + randomAlnum(t, 20)
	mumblePass := "Mum" + randomAlnum(t, 20)
	run(none, ircPass+"\n", "set-option", "irc", "password", "-")
	run(none, mumblePass+"\n", "set-option", "mumble", "password", "-")
	sftpPass2 := "Sftp" + randomAlnum(t, 20)
	run(none, sftpPass2+"\n", "set-option", "sftp", "password", "-")
	secrets = append(secrets, secret{"sftp password (set through -, while running)", kindPassword, []string{sftpPass2}})
	// A refused secret: the error names the option, not the value.
	badPass := "Bad" + randomAlnum(t, 12) + " with spaces"
	run([]string{refused}, badPass+"\n", "set-option", "irc", "password", "-")
	secrets = append(secrets, secret{"irc password refused", kindPassword, []string{badPass, badPass[:15]}})
	secrets = append(secrets, secret{"irc password (set through -)", kindPassword, []string{ircPass}},
		secret{"mumble password (set through -)", kindPassword, []string{mumblePass}})
	for _, o := range [][2]string{{"irc", "operator-password"}, {"gobby", "password"}} {
		out := run(passwords, "", "get-option", o[0], o[1], "--show-secrets", "-o", "json")
		var opt apitype.Option
		if err := json.Unmarshal([]byte(out), &opt); err != nil || opt.Value == "" {
			t.Fatalf("get-option %s %s: %v\n%s", o[0], o[1], err, out)
		}
		secrets = append(secrets, secret{o[0] + " " + o[1] + " (generated)", kindPassword, []string{opt.Value}})
	}

	// Clients, their keys, and sharing.
	var clientKey string
	for _, n := range services {
		// client add answers with the new credential, as client show does.
		run(clientKeys, "", "client", "add", n, "ann")
		out := run(clientKeys, "", "client", "show", n, "ann", "-o", "json")
		var c apitype.Client
		if err := json.Unmarshal([]byte(out), &c); err != nil || c.Key == "" {
			t.Fatalf("client show %s ann: %v\n%s", n, err, out)
		}
		clientKey = c.Key
		secrets = append(secrets, secret{n + " client ann's x25519 key", kindClientKey, []string{c.Key, strings.ToLower(c.Key)}})
		run(both, "", "share", n, "--client", "ann")
		// share prints what a client needs, server passwords included
		// (docs/services/*.md): none of the keys.
		run(passwords, "", "share", n)
		run(none, "", "client", "list", n)
		run(none, "", "info", n)
		run(none, "", "info", n, "--details", "-o", "json")
		run(none, "", "status", n)
		run(passwords, "", "info", n, "--show-secrets")
	}
	run(none, "", "list")
	run(none, "", "client", "remove", "web", "ann")

	// The onion keys, as the key file holds them and as ADD_ONION carries
	// them (ED25519-V3:base64 of the 64-byte expanded key).
	for _, n := range services {
		file := d.service(n).Details.KeyFile
		b, err := os.ReadFile(file)
		if err != nil || len(b) != 96 {
			t.Fatalf("onion key %s of %s: %v (%d bytes)", file, n, err, len(b))
		}
		k := b[32:]
		secrets = append(secrets, secret{n + " onion key", kindOnionKey, []string{
			base64.StdEncoding.EncodeToString(k), base64.RawStdEncoding.EncodeToString(k),
			base64.StdEncoding.EncodeToString(b), hex.EncodeToString(k), string(k[:16]),
		}})
	}

	// A GUI login: the token is in the 0600 file only.
	out := run(none, "", "gui", "--no-open", "-o", "json")
	var login struct{ File, URL string }
	if err := json.Unmarshal([]byte(out), &login); err != nil || login.File == "" {
		t.Fatalf("gui --no-open: %v\n%s", err, out)
	}
	action, token := readLoginFile(t, login.File)
	jar, _ := cookiejar.New(nil)
	resp, err := postLogin(&http.Client{Jar: jar, Timeout: 30 * time.Second}, action, token)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(jar.Cookies(resp.Request.URL)) == 0 {
		t.Fatalf("the GUI login gave no session: %s", resp.Status)
	}
	secrets = append(secrets, secret{"GUI login token", kindToken, []string{token}})

	// The tor control ports' cookies.
	for _, l := range listeners(t, processTree(d.status().PID), func(int) string { return "" }) {
		if ok, _, cookie := torControl(l.Port); ok && cookie != "" {
			if b, err := os.ReadFile(cookie); err == nil {
				secrets = append(secrets, secret{"tor control cookie " + filepath.Base(filepath.Dir(cookie)), kindCookie, []string{hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b))}})
			}
		}
	}

	// Logs of the backends, and every API answer without show_secrets.
	for _, n := range services {
		run(none, "", "logs", n, "-n", "1000")
		for _, p := range []string{"/services/" + n, "/services/" + n + "?details=1", "/services/" + n + "/clients",
			"/services/" + n + "/share", "/services/" + n + "/logs", "/services/" + n + "/options/password"} {
			var allow []string
			if strings.HasSuffix(p, "/share") {
				allow = passwords // as `share`
			}
			seen.add("API GET "+p, apiGet(t, d, p), allow...)
		}
	}
	for _, p := range []string{"/daemon", "/settings", "/services", "/isolation/policy"} {
		seen.add("API GET "+p, apiGet(t, d, p))
	}
	// A control for the process samples: a short-lived process with a
	// canary in its arguments.
	canary := "Canary" + randomAlnum(t, 16)
	if err := exec.Command("sh", "-c", "sleep 0.5", canary).Run(); err != nil {
		t.Fatal(err)
	}
	d.stop() // the log is whole once the daemon has stopped
	procDone = true
	procs := sampler.finish()
	for _, want := range []string{canary, "daemon --state " + state, "ngircd", "infinoted", "murmurd", "sshd", "TAILS_SERVER_SOCKET="} {
		if !strings.Contains(procs, want) {
			t.Fatalf("the process samples lack %q: they prove nothing", want)
		}
	}
	seen.add("process arguments and environments", procs)
	seen.add("daemon stdout/stderr", d.log.String())
	// Every log file under the state and volatile roots (tor's, backends').
	var files []string
	for _, root := range []string{state, volatile} {
		filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			dir := filepath.Base(filepath.Dir(p))
			if err == nil && !e.IsDir() && (strings.HasSuffix(p, ".log") || dir == "log" || dir == "logs" || e.Name() == "log") {
				files = append(files, strings.TrimPrefix(p, tmp+"/"))
				if b, err := os.ReadFile(p); err == nil {
					seen.add("file "+p, string(b))
				}
			}
			return nil
		})
	}

	t.Logf("log files under the state and volatile roots: %s", strings.Join(files, ", "))
	// The control: the same search finds the key in client show's output.
	var control []string
	for where, p := range seen.pieces {
		if strings.Contains(where, "client show") && strings.Contains(p.text, clientKey) {
			control = append(control, where)
		}
	}
	if len(control) == 0 || len(find([]secret{{"client key", kindClientKey, []string{clientKey}}},
		map[string]piece{"client show": {text: seen.pieces[control[0]].text}})) == 0 {
		t.Fatal("the search does not find the client key in `client show`'s output: it proves nothing")
	}
	found := find(secrets, seen.pieces)
	for _, f := range found {
		t.Errorf("LEAK: %s", f)
	}
	t.Logf("searched %d outputs, logs and process samples for %d secrets", len(seen.pieces), len(secrets))
	fmt.Printf("secrets: %d secrets of the session searched in %d outputs, logs and process samples\n", len(secrets), len(seen.pieces))
	fmt.Printf("secrets: secrets found: %d\n", len(found))
}

// apiGet fetches path from the daemon's API with curl, as any member of
// the socket's group could, without show_secrets.
func apiGet(t *testing.T, d *daemon, path string) string {
	t.Helper()
	out, err := exec.Command("curl", "-sS", "--max-time", "30", "--unix-socket", d.socket, "http://"+apitype.Host+apitype.Version+path).CombinedOutput()
	if err != nil {
		t.Fatalf("API GET %s: %v\n%s", path, err, out)
	}
	return string(out)
}

func randomAlnum(t *testing.T, n int) string {
	t.Helper()
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

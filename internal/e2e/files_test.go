package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
	"tails-server/internal/testenv"
)

// TestFilesEndToEnd drives the files verbs on the real binary: as user
// nobody, a member of the daemon's group, the host adds a file to
// fileshare and an independent client tor downloads it byte-identical; a
// root-only file and a symlink pointing outside are refused and nothing is
// added; a visitor uploads two files through the onion, the host lists
// and saves them, owned by the caller; `files add web ./site/` publishes
// the site's index.html. Bad input: bad names, a full disk, an add cut by
// a kill, two adds of one name at once.
func TestFilesEndToEnd(t *testing.T) {
	requireNet(t)
	testenv.RequireRoot(t, "the host runs as user nobody, the daemon makes groups, a small tmpfs is mounted")
	testenv.RequireProgram(t, "groupadd")
	testenv.RequireProgram(t, "mount")
	group := fmt.Sprintf("tsfl%d", os.Getpid()%100000)
	if out, err := exec.Command("groupadd", "--system", group).CombinedOutput(); err != nil {
		t.Fatalf("groupadd %s: %v %s", group, err, out)
	}
	t.Cleanup(func() { exec.Command("groupdel", group).Run() })
	g, err := user.LookupGroup(group)
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	groups := []uint32{uint32(gid)}

	tmp := backendTempDir(t)
	sock := filepath.Join(tmp, "api.sock")
	d := startDaemon(t, filepath.Join(tmp, "state"), sock, "--group", group)
	exe := binForOthers(t)
	env := []string{"TAILS_SERVER_SOCKET=" + sock}
	// host runs the CLI as nobody, in the group.
	host := func(args ...string) (string, string, int) {
		t.Helper()
		return runAs(t, exe, groups, env, args...)
	}
	mustHost := func(args ...string) string {
		t.Helper()
		out, errOut, code := host(args...)
		if code != 0 {
			t.Fatalf("tails-server %s as nobody: exit %d\n%s%s\ndaemon log:\n%s", strings.Join(args, " "), code, out, errOut, d.log)
		}
		return out
	}
	list := func(args ...string) apitype.FileList {
		t.Helper()
		var l apitype.FileList
		if err := json.Unmarshal([]byte(mustHost(append([]string{"-o", "json", "files", "list"}, args...)...)), &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	names := func(l apitype.FileList) string {
		var n []string
		for _, f := range l.Files {
			n = append(n, f.Name)
		}
		return strings.Join(n, ",")
	}

	d.mustCLI("set-option", "fileshare", "mode", "both")
	for _, svc := range []string{"fileshare", "web"} {
		if out := d.mustCLI("enable", svc, "--wait", "150s"); !strings.Contains(out, "reachable: true") {
			t.Fatalf("enable %s:\n%s", svc, out)
		}
		d.mustCLI("client", "add", svc, "ann")
	}
	var creds []string
	for _, svc := range []string{"fileshare", "web"} {
		creds = append(creds, strings.TrimSpace(d.mustCLI("client", "show", svc, "ann", "--format", "auth-private")))
	}
	ann := newOnionClient(t, "ann", creds...)
	fileshare := "http://" + d.service("fileshare").OnionAddress
	web := "http://" + d.service("web").OnionAddress
	until := func(t *testing.T, what, url string, want int, extra ...string) curlResult {
		t.Helper()
		var res curlResult
		waitFor(t, 150*time.Second, what, func() error {
			var err error
			if res, err = ann.curlRaw(append(extra, url)...); err != nil {
				return err
			}
			if res.code != want {
				return fmt.Errorf("HTTP %d, want %d: %.200s", res.code, want, res.body)
			}
			return nil
		})
		return res
	}
	shareDir := filepath.Join(d.service("fileshare").Details.DataDir, "data", "share")
	mine := nobodyDir(t) // the host's own files, nobody's
	write := func(dir, name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		for q := p; q != dir; q = filepath.Dir(q) {
			os.Lchown(q, nobody, nobody)
		}
		return p
	}

	report := make([]byte, 3<<20+77)
	rand.Read(report)
	t.Run("add as nobody, download through the onion", func(t *testing.T) {
		p := write(mine, "report.pdf", report)
		out := mustHost("files", "add", "fileshare", p)
		if !strings.Contains(out, "- report.pdf") {
			t.Fatalf("files add printed:\n%s", out)
		}
		got := until(t, "report.pdf through the onion", fileshare+"/files/report.pdf", 200)
		if !bytes.Equal(got.body, report) {
			t.Fatalf("downloaded %d bytes, not the %d added", len(got.body), len(report))
		}
		l := list("fileshare")
		if names(l) != "report.pdf" || l.Files[0].Size != int64(len(report)) || l.Files[0].Modified.Location().String() != "UTC" {
			t.Fatalf("files list: %+v", l)
		}
		if !strings.Contains(d.log.String(), `msg="files added"`) || !strings.Contains(d.log.String(), "uid=65534") {
			t.Errorf("the daemon did not log who added what:\n%s", d.log)
		}
	})

	t.Run("a root-only file is refused, nothing added", func(t *testing.T) {
		ok := write(mine, "ok.txt", []byte("readable"))
		secret := filepath.Join(tmp, "root-only.txt")
		if err := os.WriteFile(secret, []byte("root's secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := host("files", "add", "fileshare", ok, secret)
		wantOneLineError(t, errOut, code, 1, "permission denied")
		if !strings.Contains(errOut, secret) {
			t.Errorf("the error does not name the file: %q", errOut)
		}
		if n := names(list("fileshare")); n != "report.pdf" {
			t.Fatalf("after the refused add the share holds %s", n)
		}
	})

	t.Run("a symlink pointing outside is refused", func(t *testing.T) {
		write(mine, "album/one.txt", []byte("one"))
		if err := os.Symlink("/etc/passwd", filepath.Join(mine, "album", "passwd")); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := host("files", "add", "fileshare", filepath.Join(mine, "album"))
		wantOneLineError(t, errOut, code, 1, "a symbolic link pointing outside")
		if n := names(list("fileshare")); n != "report.pdf" {
			t.Fatalf("after the refused add the share holds %s", n)
		}
	})

	t.Run("a visitor uploads two files, the host saves them", func(t *testing.T) {
		one, two := make([]byte, 200<<10), make([]byte, 70<<10)
		rand.Read(one)
		rand.Read(two)
		up := filepath.Join(tmp, "visitor") // curl -F reads a comma as a separator: no t.TempDir
		os.Mkdir(up, 0o700)
		os.WriteFile(filepath.Join(up, "one.bin"), one, 0o600)
		os.WriteFile(filepath.Join(up, "two.bin"), two, 0o600)
		until(t, "upload of two files", fileshare+"/upload", 201, "-F", "file=@"+filepath.Join(up, "one.bin"), "-F", "file=@"+filepath.Join(up, "two.bin"))
		if n := names(list("fileshare", "--received")); n != "one.bin,two.bin" {
			t.Fatalf("files list --received: %s", n)
		}
		out := filepath.Join(mine, "saved")
		if err := os.Mkdir(out, 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chown(out, nobody, nobody)
		write(out, "one.bin", []byte("already here"))
		mustHost("files", "save", "fileshare", "one.bin", "two.bin", "--to", out)
		for name, want := range map[string][]byte{"one (1).bin": one, "two.bin": two, "one.bin": []byte("already here")} {
			p := filepath.Join(out, name)
			b, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(b, want) {
				t.Errorf("%s: %d bytes, %v; want the %d uploaded", name, len(b), err, len(want))
				continue
			}
			fi, _ := os.Stat(p)
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody {
				t.Errorf("%s is uid %d's, not the caller's", name, st.Uid)
			}
		}
		ents, _ := os.ReadDir(out)
		if len(ents) != 3 {
			t.Errorf("the folder holds %d files, want 3 (no temporary file left)", len(ents))
		}
	})

	// Names the CLI refuses itself never reach the daemon: these are sent
	// to the API as a tar stream would carry them.
	t.Run("bad names are refused, nothing added", func(t *testing.T) {
		c := client.New(sock)
		for _, name := range []string{"/etc/cron.d/x", "../received/x", "a/../../x", "bell\x07.txt", "invoice\u202Efdp.exe",
			"zero\u200Bwidth", strings.Repeat("n", 256), ".hidden"} {
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			tw.WriteHeader(&tar.Header{Name: "fine.txt", Typeflag: tar.TypeReg, Size: 4, Mode: 0o644, Format: tar.FormatPAX})
			tw.Write([]byte("fine"))
			tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: 3, Mode: 0o644, Format: tar.FormatPAX})
			tw.Write([]byte("bad"))
			tw.Close()
			_, err := c.AddFiles(context.Background(), "fileshare", client.AddOptions{}, &b)
			if err == nil || !strings.Contains(err.Error(), "name") || strings.Contains(err.Error(), "\n") {
				t.Errorf("%q: %v, want a one-line error about the name", name, err)
			}
		}
		// A name the CLI meets on disk.
		p := write(mine, "rtl\u202Eexe.txt", []byte("x"))
		_, errOut, code := host("files", "add", "fileshare", p)
		wantOneLineError(t, errOut, code, 1, "control or format character")
		if n := names(list("fileshare")); n != "report.pdf" {
			t.Fatalf("after bad names the share holds %s", n)
		}
	})

	t.Run("a full disk refuses the add, nothing added", func(t *testing.T) {
		sub := filepath.Join(shareDir, "small")
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", sub).CombinedOutput(); err != nil {
			t.Fatalf("mount tmpfs: %v %s", err, out)
		}
		t.Cleanup(func() {
			exec.Command("umount", sub).Run()
			os.Remove(sub)
		})
		big := make([]byte, 12<<20)
		p := write(mine, "big.bin", big)
		_, errOut, code := host("files", "add", "fileshare", p, "--to", "small")
		wantOneLineError(t, errOut, code, 1, "not enough free space")
		if ents, _ := os.ReadDir(sub); len(ents) != 0 {
			t.Fatalf("the full folder holds %d names", len(ents))
		}
		// A file that fits goes in.
		small := write(mine, "small.bin", make([]byte, 1<<20))
		mustHost("files", "add", "fileshare", small, "--to", "small")
		// Two files that fit one at a time but not together, with no
		// total announced: the second is refused as it comes, and the
		// first goes too.
		var tb bytes.Buffer
		tw := tar.NewWriter(&tb)
		for _, n := range []string{"third.bin", "fourth.bin"} {
			tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Size: 4 << 20, Mode: 0o644, Format: tar.FormatPAX})
			tw.Write(make([]byte, 4<<20))
		}
		tw.Close()
		_, err := client.New(sock).AddFiles(context.Background(), "fileshare", client.AddOptions{To: "small"}, &tb)
		if err == nil || !strings.Contains(err.Error(), `not enough free space for "fourth.bin"`) {
			t.Fatalf("two files past the free space: %v", err)
		}
		if ents, _ := os.ReadDir(sub); len(ents) != 1 || ents[0].Name() != "small.bin" {
			t.Fatalf("after the refused add the folder holds %v", ents)
		}
	})

	t.Run("an add cut by a kill leaves nothing", func(t *testing.T) {
		p := filepath.Join(mine, "huge.bin")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(2 << 30) // sparse: quick to read, slow to write
		f.Close()
		os.Chown(p, nobody, nobody)
		cmd := exec.Command(exe, "files", "add", "fileshare", p)
		cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}, env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: groups}}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Stopped as soon as the daemon writes the file in its staging
		// folder, then killed.
		var staged string
		deadline := time.Now().Add(60 * time.Second)
		for staged == "" && time.Now().Before(deadline) {
			m, _ := filepath.Glob(filepath.Join(shareDir, ".tails-server-adding-*", "huge.bin"))
			if len(m) > 0 {
				if fi, err := os.Stat(m[0]); err == nil && fi.Size() > 0 {
					staged = m[0]
					cmd.Process.Signal(syscall.SIGSTOP)
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		if staged == "" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("the add never wrote to a staging folder")
		}
		if _, err := os.Stat(filepath.Join(shareDir, "huge.bin")); err == nil {
			t.Fatal("the half-copied file is offered")
		}
		cmd.Process.Kill()
		cmd.Wait()
		waitFor(t, 60*time.Second, "the staging folder removed", func() error {
			if m, _ := filepath.Glob(filepath.Join(shareDir, ".tails-server-adding-*")); len(m) > 0 {
				return fmt.Errorf("still there: %v", m)
			}
			return nil
		})
		if n := names(list("fileshare")); strings.Contains(n, "huge.bin") {
			t.Fatalf("after the kill the share holds %s", n)
		}
	})

	t.Run("two adds of one name at once: one wins", func(t *testing.T) {
		a := write(filepath.Join(mine, "a"), "same.bin", bytes.Repeat([]byte("A"), 64<<20))
		b := write(filepath.Join(mine, "b"), "same.bin", bytes.Repeat([]byte("B"), 64<<20))
		type result struct {
			errOut string
			code   int
		}
		res := make(chan result, 2)
		for _, p := range []string{a, b} {
			go func() {
				_, errOut, code := runAs(t, exe, groups, env, "files", "add", "fileshare", p)
				res <- result{errOut, code}
			}()
		}
		r1, r2 := <-res, <-res
		if (r1.code == 0) == (r2.code == 0) {
			t.Fatalf("exits %d and %d, want one success: %q %q", r1.code, r2.code, r1.errOut, r2.errOut)
		}
		loser := r1
		if r1.code == 0 {
			loser = r2
		}
		wantOneLineError(t, loser.errOut, loser.code, 1, "same.bin")
		got, err := os.ReadFile(filepath.Join(shareDir, "same.bin"))
		if err != nil || len(got) != 64<<20 || (got[0] != 'A' && got[0] != 'B') || !bytes.Equal(got, bytes.Repeat(got[:1], 64<<20)) {
			t.Fatalf("same.bin is not one add's whole file (%d bytes, %v)", len(got), err)
		}
	})

	t.Run("files add web ./site/ publishes the site", func(t *testing.T) {
		until(t, "the welcome page", web+"/", 200)
		site := filepath.Join(mine, "site")
		write(site, "index.html", []byte("<h1>Our own site</h1>\n"))
		write(site, "css/style.css", []byte("h1{color:red}\n"))
		mustHost("files", "add", "web", site+"/")
		got := until(t, "the site's index.html", web+"/", 200)
		if string(got.body) != "<h1>Our own site</h1>\n" {
			t.Fatalf("the onion serves %q", got.body)
		}
		if css := until(t, "the site's css", web+"/css/style.css", 200); string(css.body) != "h1{color:red}\n" {
			t.Fatalf("css: %q", css.body)
		}
		_, errOut, code := host("files", "add", "web", site+"/")
		wantOneLineError(t, errOut, code, 1, "already exists in www of web")
		mustHost("files", "add", "web", site+"/", "--replace")
	})
}

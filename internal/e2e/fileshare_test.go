package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tails-server/internal/testenv"
)

// curlResult is what curl fetched: the HTTP status (0 if none) and body.
type curlResult struct {
	code int
	body []byte
}

// curlRaw runs curl through the client's SOCKS port with extra arguments
// and returns the status and body; an error only when curl got no HTTP
// answer at all.
func (c *onionClient) curlRaw(args ...string) (curlResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	out := filepath.Join(os.TempDir(), fmt.Sprintf("fileshare-curl-%d", time.Now().UnixNano()))
	defer os.Remove(out)
	argv := append([]string{"-sS", "--max-time", "90", "--socks5-hostname", c.tor.SocksAddr,
		"-o", out, "-w", "%{http_code}"}, args...)
	cmd := exec.CommandContext(ctx, "curl", argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code, _ := strconv.Atoi(strings.TrimSpace(stdout.String()))
	if code == 0 {
		return curlResult{}, fmt.Errorf("curl %v: %v: %s", args, err, strings.TrimSpace(stderr.String()))
	}
	body, _ := os.ReadFile(out)
	return curlResult{code: code, body: body}, nil
}

// TestFileshareEndToEnd drives the built-in fileshare service through the
// onion with an independent client tor and curl: downloads (byte for
// byte, and a folder as a zip that unzip unpacks), uploads in receive
// mode, the upload limit, traversal attempts, set-option of each option,
// and auto-stop after the first download.
func TestFileshareEndToEnd(t *testing.T) {
	requireNet(t)
	testenv.RequireProgram(t, "unzip")
	tmp := t.TempDir()
	state, socket := filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock")
	d := startDaemon(t, state, socket)

	out := d.mustCLI("enable", "fileshare", "--wait", "150s")
	if !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable fileshare:\n%s", out)
	}
	svc := d.service("fileshare")
	addr := svc.OnionAddress
	data := filepath.Join(svc.Details.DataDir, "data")
	d.mustCLI("client", "add", "fileshare", "ann")
	cred := strings.TrimSpace(d.mustCLI("client", "show", "fileshare", "ann", "--format", "auth-private"))
	share := d.mustCLI("share", "fileshare")
	for _, want := range []string{"uri: http://" + addr + "/", "Tor Browser"} {
		if !strings.Contains(share, want) {
			t.Fatalf("share lacks %q:\n%s", want, share)
		}
	}

	// The host puts files in the shared folder (and a secret next to it).
	big := make([]byte, 2<<20+123)
	rand.Read(big)
	put := func(p string, b []byte) {
		t.Helper()
		p = filepath.Join(data, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("share/report.bin", big)
	put("share/album/one.txt", []byte("first\n"))
	put("share/album/deep/two.txt", []byte("second\n"))
	put("share/.hidden", []byte("hidden dot file"))
	put("secret.txt", []byte("the host's secret"))
	if err := os.Symlink("/etc", filepath.Join(data, "share", "etc")); err != nil {
		t.Fatal(err)
	}

	ann := newOnionClient(t, "ann", cred)
	base := "http://" + addr
	get := func(path string, extra ...string) func() (curlResult, error) {
		return func() (curlResult, error) { return ann.curlRaw(append(extra, base+path)...) }
	}
	// until waits for a request to give want, and returns its result.
	until := func(t *testing.T, what string, req func() (curlResult, error), want int) curlResult {
		t.Helper()
		var res curlResult
		waitFor(t, 120*time.Second, what, func() error {
			var err error
			if res, err = req(); err != nil {
				return err
			}
			if res.code != want {
				return fmt.Errorf("HTTP %d, want %d: %.200s", res.code, want, res.body)
			}
			return nil
		})
		return res
	}

	t.Run("download a file and a zip", func(t *testing.T) {
		page := until(t, "listing", get("/"), 200)
		for _, want := range []string{`href="/files/report.bin"`, `href="/zip/album"`} {
			if !bytes.Contains(page.body, []byte(want)) {
				t.Fatalf("listing lacks %s:\n%s", want, page.body)
			}
		}
		if bytes.Contains(page.body, []byte(".hidden")) {
			t.Fatalf("listing shows a dot file:\n%s", page.body)
		}
		got := until(t, "file", get("/files/report.bin"), 200)
		if !bytes.Equal(got.body, big) {
			t.Fatalf("downloaded %d bytes, not the %d shared", len(got.body), len(big))
		}
		part := until(t, "range", get("/files/report.bin", "-r", "1000-1999"), 206)
		if !bytes.Equal(part.body, big[1000:2000]) {
			t.Fatal("range request returned other bytes")
		}
		z := until(t, "zip", get("/zip/album"), 200)
		dir := t.TempDir()
		zipPath := filepath.Join(dir, "album.zip")
		os.WriteFile(zipPath, z.body, 0o600)
		if out, err := exec.Command("unzip", "-q", zipPath, "-d", dir).CombinedOutput(); err != nil {
			t.Fatalf("unzip: %v: %s", err, out)
		}
		for p, want := range map[string]string{"album/one.txt": "first\n", "album/deep/two.txt": "second\n"} {
			if b, err := os.ReadFile(filepath.Join(dir, p)); err != nil || string(b) != want {
				t.Errorf("%s from the zip: %q %v", p, b, err)
			}
		}
	})

	t.Run("traversal never escapes", func(t *testing.T) {
		for _, p := range []string{"/files/../secret.txt", "/files/%2e%2e%2fsecret.txt", "/files/%2e%2e/secret.txt",
			"/files/..%5csecret.txt", "/files/album/..%2f..%2fsecret.txt", "/files/etc/passwd", "/files/etc/",
			"/files/.hidden", "/zip/etc", "/zip/%2e%2e", "/../secret.txt", "/files/%2fetc%2fpasswd"} {
			res, err := ann.curlRaw("--path-as-is", base+p)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if res.code == 200 || bytes.Contains(res.body, []byte("secret")) || bytes.Contains(res.body, []byte("root:")) ||
				bytes.Contains(res.body, []byte("hidden dot file")) {
				t.Errorf("%s: HTTP %d %.200q", p, res.code, res.body)
			}
		}
	})

	upload := func(name string, size int) (curlResult, []byte, error) {
		b := make([]byte, size)
		rand.Read(b)
		f := filepath.Join(t.TempDir(), name)
		os.WriteFile(f, b, 0o600)
		res, err := ann.curlRaw("-F", "file=@"+f, base+"/upload")
		return res, b, err
	}
	inFolder := func(dir string) map[string][]byte {
		out := map[string][]byte{}
		entries, _ := os.ReadDir(filepath.Join(data, dir))
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(data, dir, e.Name()))
			out[e.Name()] = b
		}
		return out
	}

	t.Run("receive mode takes uploads", func(t *testing.T) {
		d := d.in(t)
		d.mustCLI("set-option", "fileshare", "mode", "receive")
		page := until(t, "receive page", get("/"), 200)
		if !bytes.Contains(page.body, []byte(`action="/upload"`)) || bytes.Contains(page.body, []byte("report.bin")) {
			t.Fatalf("receive page:\n%s", page.body)
		}
		if res, err := ann.curlRaw(base + "/files/report.bin"); err != nil || res.code != 404 {
			t.Fatalf("download in receive mode: %d %v", res.code, err)
		}
		var sent []byte
		until(t, "upload", func() (curlResult, error) {
			res, b, err := upload("notes.bin", 300<<10)
			sent = b
			return res, err
		}, 201)
		if got := inFolder("received")["notes.bin"]; !bytes.Equal(got, sent) {
			t.Fatalf("received file: %d bytes, sent %d", len(got), len(sent))
		}
		// The same name again: a new file, the first one untouched.
		until(t, "second upload", func() (curlResult, error) { r, _, err := upload("notes.bin", 10); return r, err }, 201)
		files := inFolder("received")
		if len(files["notes (1).bin"]) != 10 || !bytes.Equal(files["notes.bin"], sent) {
			t.Fatalf("second upload of the same name: %v", keys(files))
		}
	})

	t.Run("upload over the limit is refused and leaves nothing", func(t *testing.T) {
		d := d.in(t)
		d.mustCLI("set-option", "fileshare", "max-upload-mib", "1")
		if o := d.mustCLI("get-option", "fileshare", "max-upload-mib"); !strings.Contains(o, "value: \"1\"") && !strings.Contains(o, "value: 1") {
			t.Fatalf("get-option:\n%s", o)
		}
		before := keys(inFolder("received"))
		until(t, "refused upload", func() (curlResult, error) { r, _, err := upload("huge.bin", 3<<20); return r, err }, 413)
		if after := keys(inFolder("received")); after != before {
			t.Fatalf("received folder changed from %s to %s", before, after)
		}
		until(t, "upload under the limit", func() (curlResult, error) { r, _, err := upload("small.bin", 500<<10); return r, err }, 201)
	})

	t.Run("set-option of the folders and mode both", func(t *testing.T) {
		d := d.in(t)
		put("public/menu.txt", []byte("soup\n"))
		d.mustCLI("set-option", "fileshare", "shared-dir", "public")
		d.mustCLI("set-option", "fileshare", "received-dir", "inbox/new")
		d.mustCLI("set-option", "fileshare", "mode", "both")
		page := until(t, "both page", get("/"), 200)
		if !bytes.Contains(page.body, []byte(`href="/files/menu.txt"`)) || !bytes.Contains(page.body, []byte(`action="/upload"`)) {
			t.Fatalf("mode both page:\n%s", page.body)
		}
		if got := until(t, "menu", get("/files/menu.txt"), 200); string(got.body) != "soup\n" {
			t.Fatalf("menu.txt: %q", got.body)
		}
		until(t, "upload to inbox", func() (curlResult, error) { r, _, err := upload("reply.bin", 1000); return r, err }, 201)
		if len(inFolder("inbox/new")["reply.bin"]) != 1000 {
			t.Fatalf("inbox/new: %s", keys(inFolder("inbox/new")))
		}
		// Values a folder may not take are refused; the old one stays.
		for _, bad := range []string{"../etc", "/etc", ".hidden", "a/../b", "x\ny"} {
			_, stderr, code := d.cli("set-option", "fileshare", "shared-dir", bad)
			wantOneLineError(t, stderr, code, 1, "shared-dir")
		}
		_, stderr, code := d.cli("set-option", "fileshare", "received-dir", "public")
		if code == 0 || !strings.Contains(stderr, "old value stays") {
			t.Fatalf("received-dir = shared-dir in mode both: exit %d %q", code, stderr)
		}
		_, stderr, code = d.cli("set-option", "fileshare", "mode", "upload")
		wantOneLineError(t, stderr, code, 1, "mode")
		if s := d.mustCLI("status", "fileshare"); !strings.Contains(s, "shared-dir: public") || !strings.Contains(s, "mode: both") {
			t.Fatalf("status:\n%s", s)
		}
		until(t, "still serving", get("/files/menu.txt"), 200)
	})

	t.Run("persistence moves the folders", func(t *testing.T) {
		d := d.in(t)
		d.mustCLI("set-option", "fileshare", "persistence", "true")
		moved := filepath.Join(state, "services", "fileshare", "data")
		if got := filepath.Join(d.service("fileshare").Details.DataDir, "data"); got != moved {
			t.Fatalf("data folder %s, want %s", got, moved)
		}
		for _, p := range []string{"public/menu.txt", "inbox/new/reply.bin", "share/report.bin"} {
			if _, err := os.Stat(filepath.Join(moved, p)); err != nil {
				t.Errorf("not in the persistent root: %v", err)
			}
		}
		if got := until(t, "menu from the persistent folder", get("/files/menu.txt"), 200); string(got.body) != "soup\n" {
			t.Fatalf("menu.txt: %q", got.body)
		}
	})

	t.Run("auto-stop after the first download", func(t *testing.T) {
		d := d.in(t)
		d.mustCLI("set-option", "fileshare", "auto-stop", "true")
		d.mustCLI("set-option", "fileshare", "mode", "share")
		waitFor(t, 120*time.Second, "reachable with auto-stop", func() error {
			if s := d.service("fileshare"); !s.Reachable {
				return fmt.Errorf("state %s: %s", s.State, s.Error)
			}
			return nil
		})
		// The page is not a download: the share goes on.
		until(t, "page", get("/"), 200)
		if s := d.service("fileshare"); !s.Enabled {
			t.Fatal("the page stopped the share")
		}
		until(t, "the one download", get("/files/menu.txt"), 200)
		waitFor(t, 30*time.Second, "disabled by auto-stop", func() error {
			s := d.service("fileshare")
			if s.Enabled || s.State != "disabled" {
				return fmt.Errorf("enabled %v, state %s", s.Enabled, s.State)
			}
			return nil
		})
		if st := d.mustCLI("status", "fileshare"); !strings.Contains(st, "error: stopped by auto-stop after the first complete download") {
			t.Fatalf("status does not say why:\n%s", st)
		}
		waitFor(t, 120*time.Second, "onion stops answering", func() error {
			if res, err := ann.curlRaw(base + "/files/menu.txt"); err == nil {
				return fmt.Errorf("still answers HTTP %d", res.code)
			}
			return nil
		})
		// Enabled again, it shares again (once).
		if out := d.mustCLI("enable", "fileshare", "--wait", "150s"); !strings.Contains(out, "reachable: true") {
			t.Fatalf("enable again:\n%s", out)
		}
		fresh := newOnionClient(t, "ann-again", cred)
		waitFor(t, 120*time.Second, "download after re-enable", func() error {
			res, err := fresh.curlRaw(base + "/files/menu.txt")
			if err == nil && res.code != 200 {
				err = fmt.Errorf("HTTP %d", res.code)
			}
			return err
		})
	})
}

func keys(m map[string][]byte) string {
	return fmt.Sprint(slices.Sorted(maps.Keys(m)))
}

package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

// cliIn is the daemon's cli with stdin.
func (d *daemon) cliIn(stdin string, args ...string) (string, string, int) {
	d.t.Helper()
	return cliStdin(d.t, []string{"TAILS_SERVER_SOCKET=" + d.socket}, strings.NewReader(stdin), args...)
}

// TestExportImportMove is issue 15's first acceptance: web with two
// clients and content exported from daemon A, imported on daemon B (other
// state, other tor), disabled on A, enabled on B: a client tor holding
// the old credential fetches the same page at the same address. A
// tampered, truncated or wrongly opened archive is refused with one
// line, B unchanged.
func TestExportImportMove(t *testing.T) {
	requireNet(t)
	tmp := t.TempDir()
	a := startDaemon(t, filepath.Join(tmp, "a", "state"), filepath.Join(tmp, "a", "api.sock"))
	a.mustCLI("enable", "web", "--wait", "150s")
	a.mustCLI("client", "add", "web", "alice")
	a.mustCLI("client", "add", "web", "bob")
	page := filepath.Join(tmp, "moved.html")
	const content = "<p>the page that moved</p>"
	if err := os.WriteFile(page, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	a.mustCLI("files", "add", "web", page)
	cred := strings.TrimSpace(a.mustCLI("client", "show", "web", "alice", "--format", "auth-private"))
	addr := a.service("web").OnionAddress

	const pass = "a long passphrase for the move\n"
	arch := filepath.Join(tmp, "web.age")
	if out, errOut, code := a.cliIn(pass, "export", "web", "--to", arch); code != 0 {
		t.Fatalf("export: exit %d\n%s%s", code, out, errOut)
	}
	if fi, err := os.Stat(arch); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive: %v %v, want mode 0600", fi, err)
	}
	if _, errOut, code := a.cliIn(pass, "export", "web", "--to", arch); code == 0 || !strings.Contains(errOut, "--force") {
		t.Fatalf("export over an existing file: exit %d %s", code, errOut)
	}
	good, err := os.ReadFile(arch)
	if err != nil {
		t.Fatal(err)
	}

	b := startDaemon(t, filepath.Join(tmp, "b", "state"), filepath.Join(tmp, "b", "api.sock"))
	before := b.mustCLI("list")
	tampered := bytes.Clone(good)
	tampered[len(tampered)/2] ^= 0x20
	for _, c := range []struct {
		name, pass string
		body       []byte
		want       string
	}{
		{"tampered", pass, tampered, "damaged"},
		{"truncated", pass, good[:len(good)*2/3], "cut short"},
		{"wrong passphrase", "not the passphrase\n", good, "wrong passphrase"},
		{"newer format", pass, newerArchive(t, strings.TrimSpace(pass)), "archive format 2 is newer than this tails-server (1): upgrade tails-server"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(tmp, c.name+".age")
			os.WriteFile(f, c.body, 0o600)
			_, errOut, code := b.in(t).cliIn(c.pass, "import", f, "--yes")
			t.Logf("%s: %s", c.name, strings.TrimSpace(errOut))
			if code == 0 || strings.Count(errOut, "error:") != 1 || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, want non-zero and one error line with %q:\n%s", code, c.want, errOut)
			}
			if after := b.in(t).mustCLI("list"); after != before {
				t.Fatalf("list changed:\n%s\nwas:\n%s", after, before)
			}
			if left, _ := filepath.Glob(filepath.Join(b.state, ".import-*")); len(left) != 0 {
				t.Fatalf("staging left: %v", left)
			}
		})
	}

	out, errOut, code := b.cliIn(pass, "import", arch, "--yes")
	if code != 0 || !strings.Contains(out, "imported:") || !strings.Contains(out, addr) {
		t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
	}
	if s := b.service("web"); s.OnionAddress != addr || s.Clients != 2 || s.Enabled {
		t.Fatalf("imported web: address %s clients %d enabled %v", s.OnionAddress, s.Clients, s.Enabled)
	}
	// Never two hosts publishing one key: A first.
	a.mustCLI("disable", "web")
	// Everything, from A: its preview on B names web, and stays a
	// preview (no terminal to confirm on, no --yes).
	all := filepath.Join(tmp, "all.age")
	if out, errOut, code := a.cliIn(pass, "export", "--all", "--to", all); code != 0 || !strings.Contains(out, "what: all") {
		t.Fatalf("export --all: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := b.cliIn(pass, "import", all); code == 0 || !strings.Contains(out, "kind: all") || !strings.Contains(out, addr) || !strings.Contains(errOut, "--yes") {
		t.Fatalf("import of everything without --yes: exit %d\n%s%s", code, out, errOut)
	}
	b.mustCLI("enable", "web", "--wait", "150s")
	alice := newOnionClient(t, "alice", cred)
	waitFor(t, 120*time.Second, "the moved page from B", func() error {
		got, err := alice.curl("http://" + addr + "/moved.html")
		if err != nil {
			return err
		}
		if !strings.Contains(got, content) {
			return fmt.Errorf("page %q", got)
		}
		return nil
	})
}

// TestImportKilledOrRefused: kill -9 of the daemon while it stages an
// import leaves a staging folder, which the next start removes; the
// service is as it was (here: none). Then an import over a web with a key
// of its own is refused while web is enabled, and without --replace once
// it is disabled, in one line each, its address kept.
func TestImportKilledOrRefused(t *testing.T) {
	requireNet(t)
	tmp := t.TempDir()
	a := startDaemon(t, filepath.Join(tmp, "a", "state"), filepath.Join(tmp, "a", "api.sock"))
	a.mustCLI("enable", "web", "--wait", "150s")
	big := filepath.Join(a.service("web").Details.DataDir, "data", "www", "big.bin")
	if out, err := exec.Command("sh", "-c", `head -c 300000000 /dev/urandom > "$1"`, "sh", big).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	ident, _ := age.GenerateX25519Identity()
	arch := filepath.Join(tmp, "web.age")
	a.mustCLI("export", "web", "--to", arch, "--recipient", ident.Recipient().String())
	a.stop()

	bState, bSock := filepath.Join(tmp, "b", "state"), filepath.Join(tmp, "b", "api.sock")
	b := startDaemon(t, bState, bSock)
	before := b.mustCLI("list")
	id := filepath.Join(tmp, "id.txt")
	os.WriteFile(id, []byte(ident.String()+"\n"), 0o600)
	imp := exec.Command(bin, "--socket", bSock, "import", arch, "--identity", id, "--yes")
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "a staging folder with data", func() error {
		var size int64
		filepath.Walk(bState, func(p string, fi os.FileInfo, err error) error {
			if err == nil && strings.Contains(p, "/.import-") && fi.Mode().IsRegular() {
				size += fi.Size()
			}
			return nil
		})
		if size < 10<<20 {
			return fmt.Errorf("%d bytes staged", size)
		}
		return nil
	})
	b.cmd.Process.Kill()
	b.cmd.Wait()
	if err := imp.Wait(); err == nil {
		t.Fatal("the import succeeded although its daemon was killed")
	}
	if left, _ := filepath.Glob(filepath.Join(bState, ".import-*")); len(left) == 0 {
		t.Fatal("no staging folder after the kill: the test did not kill mid-import")
	}
	b = startDaemon(t, bState, bSock)
	if left, _ := filepath.Glob(filepath.Join(bState, ".import-*")); len(left) != 0 {
		t.Fatalf("staging folders after the restart: %v", left)
	}
	if after := b.mustCLI("list"); after != before {
		t.Fatalf("list changed:\n%s\nwas:\n%s", after, before)
	}
	if s := b.service("web"); s.OnionAddress != "" {
		t.Fatalf("web has an address after a killed import: %s", s.OnionAddress)
	}

	// web here with a key of its own: refused while enabled, then
	// refused without --replace, its address kept.
	b.mustCLI("enable", "web", "--wait", "150s")
	own := b.service("web").OnionAddress
	for _, want := range []string{"is enabled here", "--replace"} {
		if want == "--replace" {
			b.mustCLI("disable", "web")
		}
		_, errOut, code := b.cli("import", arch, "--identity", id, "--yes")
		if code == 0 || strings.Count(errOut, "error:") != 1 || !strings.Contains(errOut, want) {
			t.Fatalf("import over web with its own key: exit %d, want one error line with %q:\n%s", code, want, errOut)
		}
		t.Logf("%s", strings.TrimSpace(errOut))
	}
	if s := b.service("web"); s.OnionAddress != own {
		t.Fatalf("refused imports changed web's address: %s, was %s", s.OnionAddress, own)
	}
}

// newerArchive is an archive whose first member says format 2.
func newerArchive(t *testing.T, pass string) []byte {
	r, err := age.NewScryptRecipient(pass)
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(12)
	var buf bytes.Buffer
	enc, _ := age.Encrypt(&buf, r)
	tw := tar.NewWriter(enc)
	h := []byte(`{"format": 2, "kind": "service"}`)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "tails-server-archive.json", Size: int64(len(h)), Mode: 0o600})
	tw.Write(h)
	tw.Close()
	enc.Close()
	return buf.Bytes()
}

package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tails-server/internal/client"
	"tails-server/internal/testenv"
)

// TestPackagedServiceLifecycle drives lighttpd (a Debian package, from the
// built-in catalog) and a third-party description dropped in the catalog
// dir through the generic lifecycle on the private network: install,
// render, supervise, publish, options, persistence across a simulated
// reboot, kill -9 of the backend, client auth off, remove.
func TestPackagedServiceLifecycle(t *testing.T) {
	requireNet(t)
	tmp := backendTempDir(t)
	state, socket := filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock")
	volatile := state + "-volatile"

	// A third-party service: lighttpd's description under another name.
	catDir := filepath.Join(tmp, "catalog.d")
	os.MkdirAll(catDir, 0o755)
	desc, _ := os.ReadFile("../../services/lighttpd.yaml")
	tmpl, _ := os.ReadFile("../../services/lighttpd.conf.tmpl")
	mysite := strings.NewReplacer("name: lighttpd", "name: mysite", "tails-server-lighttpd", "tails-server-mysite",
		"icon: lighttpd.svg\n", "").Replace(string(desc))
	os.WriteFile(filepath.Join(catDir, "mysite.yaml"), []byte(mysite), 0o644)
	os.WriteFile(filepath.Join(catDir, "lighttpd.conf.tmpl"), tmpl, 0o644)
	os.WriteFile(filepath.Join(catDir, "broken.yaml"), []byte("name: broken\ntitle: [\n"), 0o644)

	d := startDaemon(t, state, socket, "--catalog", catDir)
	if list := d.mustCLI("list"); !strings.Contains(list, "name: mysite") || !strings.Contains(list, "name: lighttpd") {
		t.Fatalf("list:\n%s", list)
	}
	if st := d.status(); len(st.CatalogErrors) != 1 || !strings.Contains(st.CatalogErrors[0], "broken.yaml:") {
		t.Fatalf("catalog errors %q", st.CatalogErrors)
	}

	out := d.mustCLI("enable", "lighttpd", "--wait", "240s")
	if !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable lighttpd:\n%s", out)
	}
	addr := d.service("lighttpd").OnionAddress
	d.mustCLI("client", "add", "lighttpd", "ann")
	cred := strings.TrimSpace(d.mustCLI("client", "show", "lighttpd", "ann", "--format", "auth-private"))
	ann := newOnionClient(t, "ann", cred)
	page := func(dir, text string) {
		t.Helper()
		root := filepath.Join(d.service("lighttpd").Details.DataDir, "data", dir)
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "index.html"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fetches := func(c *onionClient, want string) func() error {
		return func() error {
			got, err := c.curl("http://" + addr + "/")
			if err == nil && !strings.Contains(got, want) {
				err = fmt.Errorf("page %q, want %q", got, want)
			}
			return err
		}
	}
	page("www", "served by lighttpd")
	waitFor(t, 90*time.Second, "lighttpd page through the onion", fetches(ann, "served by lighttpd"))

	t.Run("dot files are not served", func(t *testing.T) {
		root := filepath.Join(d.service("lighttpd").Details.DataDir, "data", "www")
		for _, name := range []string{".secret", ".git/config", "sub/.htpasswd"} {
			p := filepath.Join(root, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("hidden content"), 0o644); err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get("http://" + d.service("lighttpd").Details.LocalAddress + "/" + name)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), "hidden content") {
				t.Errorf("GET /%s: %d %q, want 403 without the file", name, resp.StatusCode, body)
			}
		}
	})

	t.Run("set-option re-renders and restarts", func(t *testing.T) {
		d := d.in(t)
		page("site", "second folder")
		d.mustCLI("set-option", "lighttpd", "document-root", "site")
		if o := d.mustCLI("get-option", "lighttpd", "document-root"); !strings.Contains(o, "value: site") {
			t.Fatalf("get-option:\n%s", o)
		}
		conf, _ := os.ReadFile(filepath.Join(d.service("lighttpd").Details.DataDir, "config", "lighttpd.conf"))
		if !strings.Contains(string(conf), `/data/site"`) {
			t.Fatalf("config not re-rendered:\n%s", conf)
		}
		waitFor(t, 90*time.Second, "new folder served", fetches(ann, "second folder"))
		for _, bad := range []string{"a\"b", "../etc", "x\ny", "$(touch /tmp/x)", "{{.port}}", "a;b"} {
			_, stderr, code := d.cli("set-option", "lighttpd", "document-root", bad)
			wantOneLineError(t, stderr, code, 1, "document-root")
		}
		if o := d.mustCLI("get-option", "lighttpd", "document-root"); !strings.Contains(o, "value: site") {
			t.Fatalf("refused values changed the option:\n%s", o)
		}
	})

	t.Run("kill -9 of the backend", func(t *testing.T) {
		d := d.in(t)
		b := d.service("lighttpd").Details.Backend
		if b == nil || b.PID == 0 {
			t.Fatalf("no backend pid: %+v", b)
		}
		syscall.Kill(b.PID, syscall.SIGKILL)
		waitFor(t, 30*time.Second, "backend restarted", func() error {
			nb := d.service("lighttpd").Details.Backend
			if nb == nil || !nb.Running || nb.PID == b.PID {
				return fmt.Errorf("backend %+v", nb)
			}
			return nil
		})
		waitFor(t, 90*time.Second, "page after backend restart", fetches(ann, "second folder"))
		if _, _, code := d.cli("logs", "lighttpd"); code != 0 {
			t.Fatal("logs failed")
		}
	})

	t.Run("allow-localhost off", func(t *testing.T) {
		d := d.in(t)
		testenv.RequireProgram(t, "setpriv")
		d.mustCLI("set-option", "lighttpd", "allow-localhost", "false")
		local := d.service("lighttpd").Details.LocalAddress
		host, port, _ := net.SplitHostPort(local)
		asUser := func(uid string) error {
			return exec.Command("setpriv", "--reuid="+uid, "--regid="+uid, "--clear-groups",
				"nc", "-z", "-w", "3", host, port).Run()
		}
		if err := asUser("65534"); err == nil {
			t.Fatalf("user nobody reaches %s with allow-localhost off", local)
		}
		if err := asUser("0"); err != nil {
			t.Fatalf("the daemon's user cannot reach %s: %v", local, err)
		}
		waitFor(t, 90*time.Second, "page through the onion with allow-localhost off", fetches(ann, "second folder"))
		d.mustCLI("set-option", "lighttpd", "allow-localhost", "true")
		local = d.service("lighttpd").Details.LocalAddress
		host, port, _ = net.SplitHostPort(local)
		if err := asUser("65534"); err != nil {
			t.Fatalf("user nobody cannot reach %s with allow-localhost on: %v", local, err)
		}
	})

	t.Run("client-auth off", func(t *testing.T) {
		d := d.in(t)
		_, stderr, code := d.cli("set-option", "lighttpd", "client-auth", "false")
		if code != 0 || !strings.Contains(stderr, "keep it secret") {
			t.Fatalf("client-auth off: exit %d, stderr %q", code, stderr)
		}
		anyone := newOnionClient(t, "anyone")
		waitFor(t, 90*time.Second, "fetch without a credential", fetches(anyone, "second folder"))
		d.mustCLI("set-option", "lighttpd", "client-auth", "true")
	})

	parent := t
	t.Run("persistence across a reboot", func(t *testing.T) {
		d.mustCLI("set-option", "lighttpd", "persistence", "true")
		if !d.service("lighttpd").Persistent {
			t.Fatal("not persistent after set-option")
		}
		if _, err := os.Stat(filepath.Join(state, "services", "lighttpd", "hs_ed25519_secret_key")); err != nil {
			t.Fatalf("key not in the persistent root: %v", err)
		}
		d.mustCLI("enable", "web")
		webAddr := d.service("web").OnionAddress

		// Reboot: stop the daemon, wipe the volatile root, start again.
		d.stop()
		if err := os.RemoveAll(volatile); err != nil {
			t.Fatal(err)
		}
		d = startDaemon(parent, state, socket, "--catalog", catDir)
		d2 := d.in(t)
		s := d2.service("lighttpd")
		if s.OnionAddress != addr || s.Enabled {
			t.Fatalf("after reboot: address %s (want %s), enabled %v (autostart is off)", s.OnionAddress, addr, s.Enabled)
		}
		if w := d2.service("web"); w.OnionAddress != "" {
			t.Fatalf("amnesic web kept its address %s (was %s)", w.OnionAddress, webAddr)
		}
		d2.mustCLI("enable", "lighttpd", "--wait", "150s")
		waitFor(t, 120*time.Second, "persistent page after reboot", fetches(ann, "second folder"))
	})

	t.Run("third-party service and remove", func(t *testing.T) {
		d := d.in(t)
		if out := d.mustCLI("enable", "mysite", "--wait", "150s"); !strings.Contains(out, "reachable: true") {
			t.Fatalf("enable mysite:\n%s", out)
		}
		d.mustCLI("remove", "lighttpd", "--yes")
		if s := d.service("lighttpd"); s.OnionAddress != "" || s.Enabled {
			t.Fatalf("after remove: %+v", s)
		}
		for _, root := range []string{state, volatile} {
			if _, err := os.Stat(filepath.Join(root, "services", "lighttpd")); !os.IsNotExist(err) {
				t.Fatalf("files left in %s", root)
			}
		}
		_, stderr, code := d.cli("remove", "mysite")
		wantOneLineError(t, stderr, code, 2, "--yes")
		if _, err := client.New(socket).Info(t.Context(), "mysite", false); err != nil {
			t.Fatal(err)
		}
	})
}

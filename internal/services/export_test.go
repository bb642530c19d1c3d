package services

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/onionkey"
	"tails-server/internal/store"
	catalogfs "tails-server/services"
)

func newExportManager(t *testing.T) (*Manager, *store.Store) {
	m := newTestManager(t)
	return m, m.store
}

// keyedWeb gives web a key, two clients and a page, as enable would, and
// returns a manager that read them.
func keyedWeb(t *testing.T, m *Manager, st *store.Store) *onionkey.ServiceKey {
	t.Helper()
	k, _ := onionkey.GenerateServiceKey()
	c1, _ := onionkey.GenerateClientKey()
	c2, _ := onionkey.GenerateClientKey()
	rec := &store.Service{Name: "web", Address: k.Address(), Options: map[string]string{"title": "Ours"},
		Clients: []store.Client{{Name: "alice", PrivateKey: c1.PrivateBase32()}, {Name: "bob", PrivateKey: c2.PrivateBase32()}}}
	if err := st.Save(rec); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteKey("web", k.SecretKeyFile()); err != nil {
		t.Fatal(err)
	}
	www := filepath.Join(st.ServiceDir("web"), "data", "www")
	os.MkdirAll(www, 0o755)
	os.WriteFile(filepath.Join(www, "index.html"), []byte("<p>hello</p>"), 0o644)
	os.Symlink("index.html", filepath.Join(www, "home.html"))
	s, _ := m.get("web")
	if err := m.reloadImported(s); err != nil {
		t.Fatal(err)
	}
	return k
}

func exportWeb(t *testing.T, m *Manager, r age.Recipient) []byte {
	t.Helper()
	p, err := m.PlanExport("web", false)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := p.WriteTo(&buf, r, "test"); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExportImport(t *testing.T) {
	a, sta := newExportManager(t)
	k := keyedWeb(t, a, sta)
	id, _ := age.GenerateX25519Identity()
	arch := exportWeb(t, a, id.Recipient())

	b, stb := newExportManager(t)
	ctx := context.Background()
	pv, err := b.StartImport(ctx, apitype.ImportRequest{Identity: id.String()}, bytes.NewReader(arch))
	if err != nil {
		t.Fatal(err)
	}
	if len(pv.Services) != 1 || pv.Services[0].OnionAddress != k.Address()+".onion" || strings.Join(pv.Services[0].Clients, ",") != "alice,bob" ||
		pv.Services[0].Existing != "none" || pv.Services[0].Files < 3 {
		t.Fatalf("preview %+v", pv)
	}
	if _, err := os.Stat(stb.KeyPath("web")); err == nil {
		t.Fatal("the key is in place before apply")
	}
	if _, err := b.ApplyImport(ctx, pv.ID, false); err != nil {
		t.Fatal(err)
	}
	info, _ := b.Info("web", false, false)
	if info.OnionAddress != k.Address()+".onion" || info.Clients != 2 || info.Enabled {
		t.Fatalf("imported: %+v", info)
	}
	got, err := os.ReadFile(filepath.Join(stb.ServiceDir("web"), "data", "www", "index.html"))
	if string(got) != "<p>hello</p>" {
		t.Fatalf("page %q %v", got, err)
	}
	if l, _ := os.Readlink(filepath.Join(stb.ServiceDir("web"), "data", "www", "home.html")); l != "index.html" {
		t.Fatalf("symlink %q", l)
	}
	if ents, _ := filepath.Glob(filepath.Join(stb.Dir, importPrefix+"*")); len(ents) != 0 {
		t.Fatalf("staging left: %v", ents)
	}

	// Another daemon with web under another key: refused without
	// --replace, nothing changed; with it, replaced.
	c, stc := newExportManager(t)
	old := keyedWeb(t, c, stc)
	pv, err = c.StartImport(ctx, apitype.ImportRequest{Identity: id.String()}, bytes.NewReader(arch))
	if err != nil {
		t.Fatal(err)
	}
	if pv.Services[0].Existing != "another key" {
		t.Fatalf("existing %q", pv.Services[0].Existing)
	}
	_, err = c.ApplyImport(ctx, pv.ID, false)
	var se *Error
	if !errors.As(err, &se) || !strings.Contains(se.Msg, "--replace") || !strings.Contains(se.Msg, "--as NAME") {
		t.Fatalf("apply over another key: %v", err)
	}
	if info, _ := c.Info("web", false, false); info.OnionAddress != old.Address()+".onion" {
		t.Fatalf("changed by a refused import: %s", info.OnionAddress)
	}
	pv, _ = c.StartImport(ctx, apitype.ImportRequest{Identity: id.String()}, bytes.NewReader(arch))
	if _, err := c.ApplyImport(ctx, pv.ID, true); err != nil {
		t.Fatal(err)
	}
	if info, _ := c.Info("web", false, false); info.OnionAddress != k.Address()+".onion" {
		t.Fatalf("--replace: %s", info.OnionAddress)
	}
	// The replaced copy goes in the background.
	for i := 0; ; i++ {
		ents, _ := filepath.Glob(filepath.Join(stc.Volatile, "services", ".*"))
		if len(ents) == 0 {
			break
		}
		if i == 100 {
			t.Fatalf("left beside the services: %v", ents)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestImportRefusals(t *testing.T) {
	a, sta := newExportManager(t)
	keyedWeb(t, a, sta)
	id, _ := age.GenerateX25519Identity()
	arch := exportWeb(t, a, id.Recipient())
	b, stb := newExportManager(t)
	ctx := context.Background()
	tampered := bytes.Clone(arch)
	tampered[len(tampered)/2] ^= 1
	other, _ := age.GenerateX25519Identity()
	for name, c := range map[string]struct {
		req  apitype.ImportRequest
		body []byte
		want string
	}{
		"tampered":  {apitype.ImportRequest{Identity: id.String()}, tampered, "damaged"},
		"truncated": {apitype.ImportRequest{Identity: id.String()}, arch[:len(arch)-30], "cut short"},
		"wrong key": {apitype.ImportRequest{Identity: other.String()}, arch, "wrong passphrase"},
		"no key":    {apitype.ImportRequest{}, arch, "no passphrase"},
		"unknown":   {apitype.ImportRequest{Identity: id.String(), As: "nope"}, arch, "unknown service"},
	} {
		_, err := b.StartImport(ctx, c.req, bytes.NewReader(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line with %q", name, err, c.want)
		}
	}
	if ents, _ := filepath.Glob(filepath.Join(stb.Dir, importPrefix+"*")); len(ents) != 0 {
		t.Fatalf("staging left: %v", ents)
	}
	if _, err := os.Stat(stb.ServiceDir("web")); err == nil {
		t.Fatal("a refused import left web's folder")
	}
}

// TestStaleImportsRemoved: staging folders of a crash go at the start.
func TestStaleImportsRemoved(t *testing.T) {
	_, st := newExportManager(t)
	stale := filepath.Join(st.Dir, importPrefix+"0123")
	os.MkdirAll(filepath.Join(stale, "services", "web"), 0o700)
	cat, _ := catalog.Load(catalogfs.FS)
	if _, err := New(st, OneTor{T: countedTor{}}, cat, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale staging folder: %v", err)
	}
}

// TestExportAll: an archive of everything holds every service that has
// files and the settings; its import brings the services, and says the
// settings are not applied.
func TestExportAll(t *testing.T) {
	a, sta := newExportManager(t)
	k := keyedWeb(t, a, sta)
	if err := sta.SaveSettings(store.Settings{PersistTorState: true}); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(sta.TorDataDir(true)), 0o700)
	os.WriteFile(filepath.Join(sta.TorDataDir(true), "state"), []byte("Guard in=default\n"), 0o600)
	os.WriteFile(filepath.Join(sta.TorDataDir(true), "lock"), nil, 0o600)
	p, err := a.PlanExport("", true)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	var buf bytes.Buffer
	if err := p.WriteTo(&buf, id.Recipient(), "test"); err != nil {
		t.Fatal(err)
	}
	b, _ := newExportManager(t)
	ctx := context.Background()
	pv, err := b.StartImport(ctx, apitype.ImportRequest{Identity: id.String()}, bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if pv.Kind != "all" || pv.Settings["persist-tor-state"] != "true" || len(pv.Notes) != 2 {
		t.Fatalf("preview %+v", pv)
	}
	if _, err := b.ApplyImport(ctx, pv.ID, false); err != nil {
		t.Fatal(err)
	}
	if info, _ := b.Info("web", false, false); info.OnionAddress != k.Address()+".onion" {
		t.Fatalf("web after the import of everything: %q", info.OnionAddress)
	}
}

// TestCrashedPlacementRemoved: the copy a kill left beside a service
// while it was moved into place (".NAME.moving-import-ID") goes when the
// store opens: the service is as it was before the import.
func TestCrashedPlacementRemoved(t *testing.T) {
	_, st := newExportManager(t)
	left := filepath.Join(st.Volatile, "services", ".web.moving-import-0123")
	os.MkdirAll(filepath.Join(left, "data"), 0o700)
	if _, err := store.Open(st.Dir, st.Volatile); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Fatalf("half-placed import: %v", err)
	}
}

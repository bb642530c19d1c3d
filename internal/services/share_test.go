package services

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/onionkey"
	"tails-server/internal/store"
	"tails-server/internal/testenv"
	catalogfs "tails-server/services"
)

func TestDetailFile(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	fp := filepath.Join(data, "fingerprint")
	if err := os.WriteFile(fp, []byte("256 SHA256:abc\x1b[31m host (ED25519)\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readDetail(fp, filepath.Join(root, "config"), data)
	if err != nil || got != "256 SHA256:abc[31m host (ED25519)" {
		t.Errorf("readDetail = %q, %v; want the first line without control characters", got, err)
	}
	if got, err := readDetail(filepath.Join(data, "missing"), data); err != nil || got != notYet {
		t.Errorf("missing file: %q, %v; want %q", got, err, notYet)
	}
	for _, outside := range []string{"/etc/passwd", filepath.Join(data, "../../x"), root} {
		if _, err := readDetail(outside, data); err == nil || !strings.Contains(err.Error(), "outside") {
			t.Errorf("readDetail(%q) = %v; want it refused as outside", outside, err)
		}
	}
}

// TestChownTreeStaysInside: a symlink in the tree, to a file outside it,
// keeps the outside file's owner.
func TestChownTreeStaysInside(t *testing.T) {
	testenv.RequireRoot(t, "this test changes owners")
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "sub"), 0o755)
	os.WriteFile(filepath.Join(root, "sub", "f"), nil, 0o600)
	if err := os.Symlink(outside, filepath.Join(root, "sub", "link")); err != nil {
		t.Fatal(err)
	}
	if err := chownTree(root, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	owner := func(p string) int {
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		return int(st.Uid)
	}
	if owner(filepath.Join(root, "sub", "f")) != 4242 || owner(filepath.Join(root, "sub", "link")) != 4242 {
		t.Error("the tree was not given to the user")
	}
	if owner(outside) != 0 {
		t.Error("a symlink led chownTree outside its tree")
	}
}

// fakeOnion is a well-formed onion host name for tests.
var fakeOnion = strings.Repeat("abcdefgh", 7) + ".onion"

// standInValues gives every option of def its default, a secret its
// stand-in; flip turns every bool option to the other value.
func standInValues(def *catalog.Service, flip bool) map[string]string {
	values := map[string]string{}
	for _, o := range allOptions(def) {
		v := ""
		if o.Default != nil {
			v = fmt.Sprint(o.Default)
		} else if o.Type == catalog.TypeSecret {
			v = "s3cret-" + o.Name
		}
		if flip && o.Type == catalog.TypeBool {
			v = strconv.FormatBool(v != "true")
		}
		values[o.Name] = v
	}
	return values
}

// TestShareHasNoPlaceholder: the instructions, URI and details of every
// service of the built-in catalog carry the real onion address and port,
// and nothing a user would take for something to fill in (ADDRESS,
// USER@ADDRESS.onion, ADDRESS:6523 were there); a secret stays in its
// detail, out of the instructions.
func TestShareHasNoPlaceholder(t *testing.T) {
	cat, errs := catalog.Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, name := range cat.Names() {
		def, _ := cat.Get(name)
		for _, flip := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/flipped-bools=%v", name, flip), func(t *testing.T) {
				values := standInValues(def, flip)
				root := t.TempDir()
				env := catalog.Env{Address: fakeOnion, Config: filepath.Join(root, "config"), Data: filepath.Join(root, "data")}
				sh, err := connectInfo(def, values, env)
				if err != nil {
					t.Fatal(err)
				}
				if sh.Instructions == "" {
					t.Fatal("no instructions")
				}
				texts := append([]string{sh.URI}, strings.Split(sh.Instructions, "\n")...)
				for _, d := range sh.Details {
					texts = append(texts, d.Label, d.Value)
				}
				for _, text := range texts {
					if p := testenv.Placeholders(text); len(p) > 0 {
						t.Errorf("placeholders %q in %q", p, text)
					}
				}
				for _, line := range strings.Split(sh.Instructions, "\n") {
					if !strings.Contains(line, fakeOnion) {
						t.Errorf("instruction without the onion address %s: %q", fakeOnion, line)
					}
					for _, o := range allOptions(def) {
						if o.Type == catalog.TypeSecret && strings.Contains(line, values[o.Name]) {
							t.Errorf("instruction shows the secret %s: %q", o.Name, line)
						}
					}
				}
				if port := strconv.Itoa(sh.OnionPort); sh.OnionPort != 80 && !strings.Contains(sh.Instructions, port) {
					t.Errorf("instructions never name the onion port %s:\n%s", port, sh.Instructions)
				}
			})
		}
	}
}

// TestShareNamesOptionValues: room and channel names in the instructions
// are the configured ones.
func TestShareNamesOptionValues(t *testing.T) {
	cat, errs := catalog.Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	env := catalog.Env{Address: fakeOnion, Config: t.TempDir(), Data: t.TempDir()}
	for _, tt := range []struct{ service, option, value, want string }{
		{"irc", "channels", "general,news", "join #general, #news"},
		// The '#' the option takes is the one the instructions print.
		{"irc", "channels", "#general,news", "join #general, #news."},
		{"xmpp", "room", "friends", "join the room friends@conference." + fakeOnion},
		{"fileshare", "mode", "receive", "send files with the form"},
	} {
		def, _ := cat.Get(tt.service)
		values := standInValues(def, false)
		values[tt.option] = tt.value
		sh, err := connectInfo(def, values, env)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sh.Instructions, tt.want) {
			t.Errorf("%s with %s=%s: instructions lack %q:\n%s", tt.service, tt.option, tt.value, tt.want, sh.Instructions)
		}
	}
}

// TestShareCredential: a client's share has the bare key, which is the
// auth_private line's last field, and the file name, each with a
// sentence of what to do with it.
func TestShareCredential(t *testing.T) {
	k, err := onionkey.GenerateClientKey()
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSuffix(fakeOnion, ".onion")
	s := &service{def: &catalog.Service{Name: "web"}, rec: &store.Service{Address: addr}}
	c, err := clientOut(s, &store.Client{Name: "alice", PrivateKey: k.PrivateBase32()}, true)
	if err != nil {
		t.Fatal(err)
	}
	if listed, err := clientOut(s, &store.Client{Name: "alice", PrivateKey: k.PrivateBase32()}, false); err != nil ||
		listed.Key != "" || listed.Credential != "" || listed.CredentialFile != "" {
		t.Errorf("a client listed without its secret: %+v, %v", listed, err)
	}
	sh := apitype.Share{OnionAddress: fakeOnion}
	addCredential(&sh, c)
	fields := strings.Split(sh.Credential, ":")
	if sh.Credential != k.AuthPrivateLine(addr) || sh.Key != fields[len(fields)-1] || sh.Key != k.PrivateBase32() {
		t.Errorf("key %q, credential %q; want the credential's last field", sh.Key, sh.Credential)
	}
	if sh.CredentialFile != "web-alice.auth_private" {
		t.Errorf("credential file %q", sh.CredentialFile)
	}
	if !strings.Contains(sh.KeyHelp, "Paste this key in Tor Browser") || !strings.Contains(sh.KeyHelp, fakeOnion) {
		t.Errorf("key help %q", sh.KeyHelp)
	}
	for _, want := range []string{"web-alice.auth_private", "ClientOnionAuthDir", "reload tor"} {
		if !strings.Contains(sh.CredentialHelp, want) {
			t.Errorf("credential help %q lacks %q", sh.CredentialHelp, want)
		}
	}
}

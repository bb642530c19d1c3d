package isolation

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"tails-server/internal/testenv"
)

// TestDefaultIsTheDesign checks the built-in policy against the design's
// port table, line by line.
func TestDefaultIsTheDesign(t *testing.T) {
	p := Default()
	want := []struct {
		name, typ string
		port      int
		flags     []string
		apps      []string
	}{
		{"default", TypeSOCKS, 9050, []string{"IsolateDestAddr", "IsolateDestPort"}, []string{"default", "mail", "chat"}},
		{"system", TypeSOCKS, 9062, []string{"IsolateDestAddr", "IsolateDestPort"}, []string{"updates", "time-sync", "security-check", "bug-reporter"}},
		{"upgrader", TypeSOCKS, 9063, []string{}, []string{"upgrader"}},
		{"browser", TypeSOCKS, 9150, []string{"IsolateSOCKSAuth", "KeepAliveIsolateSOCKSAuth"}, []string{"browser"}},
		{"trans", TypeTrans, 9040, []string{}, nil},
		{"dns", TypeDNS, 5353, []string{}, nil},
	}
	d := p.Describe(0)
	if len(d.Ports) != len(want) {
		t.Fatalf("default policy has %d listeners, want %d", len(d.Ports), len(want))
	}
	for i, w := range want {
		got := d.Ports[i]
		if got.Name != w.name || got.Type != w.typ || got.Addr != "127.0.0.1:"+strconv.Itoa(w.port) || !slices.Equal(got.Flags, w.flags) || !slices.Equal(got.Apps, w.apps) {
			t.Errorf("listener %d = %+v, want %+v", i, got, w)
		}
	}
	// What tor does with them: the browser port has no destination
	// isolation, the upgrader's none beyond tor's defaults.
	if iso := Effective(p.Ports[3].Flags); iso.DestAddr || iso.DestPort || !iso.SOCKSAuth {
		t.Errorf("browser isolation = %+v", iso)
	}
	if iso := Effective(p.Ports[2].Flags); iso.DestAddr || iso.DestPort {
		t.Errorf("upgrader isolation = %+v", iso)
	}
}

// TestBadPolicies: every refusal names the file and the line.
func TestBadPolicies(t *testing.T) {
	cases := map[string]string{
		"unknown-port.yaml":     `:6: app mail: unknown port "defualt" (SOCKS ports: default)`,
		"port-twice.yaml":       `:4: port other: port number 9050 is used twice (also by port default at line 2)`,
		"unknown-flag.yaml":     `:6: port default: unknown flag "IsolateDestination"`,
		"flag-case.yaml":        `:4: port default: unknown flag "isolatedestaddr" (did you mean IsolateDestAddr?)`,
		"name-twice.yaml":       `:4: port name "default" is used twice (first at line 2)`,
		"unknown-key.yaml":      `:4: unknown key "isolate" in port`,
		"app-trans.yaml":        `:9: app mail: port trans is a trans port; applications use SOCKS ports`,
		"override-clash.yaml":   `:8: app mail: override: port number 9050 is used twice (also by port default at line 2)`,
		"session-group.yaml":    `:4: port default: SessionGroup needs a number`,
		"trans-socks-flag.yaml": `:7: port trans: flag ExtendedErrors is for SOCKS ports only`,
		"listen.yaml":           `:3: port default: listen "localhost" is not an IP address`,
		"port-range.yaml":       `:3: port default: port 70000 is outside 1-65535`,
		"syntax.yaml":           `: not valid YAML`,
		"newline.yaml":          `:2: port name holds a control character or line break`,
		"app-name.yaml":         `:5: app name "Mail Client": use 1 to 32`,
	}
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) != len(cases) {
		t.Errorf("%d bad policies in testdata, %d cases", len(files), len(cases))
	}
	for name, want := range cases {
		path := filepath.Join("testdata/bad", name)
		_, err := LoadFile(path)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.HasPrefix(err.Error(), path+":") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q, want %q", name, err, path+want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", name, err)
		}
	}
}

func TestUnsupportedFlag(t *testing.T) {
	p, err := LoadFile("testdata/override.yaml")
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]bool{}
	for _, f := range KnownFlags() {
		all[f] = true
	}
	if err := p.Validate(all); err != nil {
		t.Fatalf("Validate with every flag supported: %v", err)
	}
	all["KeepAliveIsolateSOCKSAuth"] = false
	err = p.Validate(all)
	want := "testdata/override.yaml:16: port browser: flag KeepAliveIsolateSOCKSAuth is not supported by the installed tor"
	if err == nil || err.Error() != want {
		t.Errorf("Validate = %v, want %q", err, want)
	}
}

func TestSocksAddr(t *testing.T) {
	p := Default()
	for _, c := range []struct {
		app    string
		offset int
		want   string
	}{
		{"browser", 0, "127.0.0.1:9150"},
		{"updates", 0, "127.0.0.1:9062"},
		{"upgrader", 20000, "127.0.0.1:29063"},
		{"mail", -1000, "127.0.0.1:8050"},
	} {
		got, err := p.SocksAddr(c.app, c.offset)
		if err != nil || got != c.want {
			t.Errorf("SocksAddr(%s, %d) = %q, %v; want %q", c.app, c.offset, got, err, c.want)
		}
	}
	_, err := p.SocksAddr("thunderbird", 0)
	if err == nil || !strings.Contains(err.Error(), `unknown app "thunderbird": known apps are default, mail, chat, updates`) {
		t.Errorf("unknown app: %v", err)
	}
	if _, err := p.SocksAddr("browser", 60000); err == nil {
		t.Error("an offset past 65535 was accepted")
	}
	o, err := LoadFile("testdata/override.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := o.SocksAddr("mail", 0); got != "127.0.0.1:9061" {
		t.Errorf("mail with its override uses %s, want its own port 9061", got)
	}
}

func TestReservedUsername(t *testing.T) {
	for u, want := range map[string]bool{
		"<torS0X>0":       true,
		"<torS0X>":        true,
		"<TORS0X>1abc":    true,
		"torS0X":          false,
		"alice":           false,
		"x<torS0X>":       false,
		"":                false,
		"<torS0":          false,
		"<torS0X>1\x00xx": true,
	} {
		if got := ReservedUsername(u); got != want {
			t.Errorf("ReservedUsername(%q) = %v", u, got)
		}
	}
}

func TestPrepareRun(t *testing.T) {
	p := Default()
	base := []string{"PATH=/usr/bin", "NO_PROXY=*", "no_proxy=example.org", "TORSOCKS_TOR_PORT=1", "https_proxy=http://evil:3128", "HOME=/root"}
	r, err := p.PrepareRun("browser", 100, "site-a.example", base)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Cleanup()
	env := map[string]string{}
	for _, kv := range r.Env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := env[k]; dup {
			t.Errorf("%s set twice", k)
		}
		env[k] = v
	}
	proxy := "socks5h://site-a.example:tails-server@127.0.0.1:9250"
	for _, k := range []string{"ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"} {
		if env[k] != proxy {
			t.Errorf("%s = %q, want %q", k, env[k], proxy)
		}
	}
	for _, k := range []string{"NO_PROXY", "no_proxy", "TORSOCKS_TOR_PORT"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s was kept", k)
		}
	}
	if env["HOME"] != "/root" || env["PATH"] != "/usr/bin" {
		t.Error("unrelated variables were dropped")
	}
	conf := env["TORSOCKS_CONF_FILE"]
	if filepath.Dir(conf) != r.Dir {
		t.Fatalf("TORSOCKS_CONF_FILE %s is not in %s", conf, r.Dir)
	}
	if fi, err := os.Stat(r.Dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("private dir mode %v, %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(conf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("torsocks.conf mode %v, %v", fi.Mode(), err)
	}
	b, _ := os.ReadFile(conf)
	for _, line := range []string{"TorAddress 127.0.0.1", "TorPort 9250", "SOCKS5Username site-a.example", "SOCKS5Password tails-server", "AllowOutboundLocalhost 0"} {
		if !strings.Contains(string(b), "\n"+line+"\n") {
			t.Errorf("torsocks.conf lacks %q:\n%s", line, b)
		}
	}
	r.Cleanup()
	if _, err := os.Stat(r.Dir); !os.IsNotExist(err) {
		t.Errorf("Cleanup left %s", r.Dir)
	}

	for _, key := range []string{"<torS0X>0", "a b", "a\nTorPort 1", "a#b", strings.Repeat("k", 201), "ümlaut"} {
		if _, err := p.PrepareRun("browser", 0, key, nil); err == nil {
			t.Errorf("isolate key %q accepted", key)
		}
	}
	if _, err := p.PrepareRun("nope", 0, "", nil); err == nil || !strings.Contains(err.Error(), "known apps are") {
		t.Errorf("unknown app: %v", err)
	}
}

// verifyTorrc runs the real tor --verify-config on snippet, included
// from a wrapper torrc with DisableNetwork 1 and a temporary
// DataDirectory, and fails on any warning about the snippet's lines.
func verifyTorrc(t *testing.T, snippet string) {
	t.Helper()
	dir := t.TempDir()
	inc := filepath.Join(dir, "isolation.torrc")
	if err := os.WriteFile(inc, []byte(snippet), 0o600); err != nil {
		t.Fatal(err)
	}
	wrapper := "DisableNetwork 1\nDataDirectory " + filepath.Join(dir, "data") + "\n%include " + inc + "\n"
	torrc := filepath.Join(dir, "torrc")
	if err := os.WriteFile(torrc, []byte(wrapper), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tor", "--verify-config", "-f", torrc, "--defaults-torrc", os.DevNull).CombinedOutput()
	if err != nil {
		t.Fatalf("tor --verify-config refused the snippet: %v\n%s\n--- snippet:\n%s", err, out, snippet)
	}
	if !strings.Contains(string(out), "Configuration was valid") {
		t.Fatalf("tor --verify-config did not say valid:\n%s", out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "[warn]") && !strings.Contains(l, "running Tor as root") {
			t.Errorf("tor warns about the snippet: %s", l)
		}
	}
}

func TestTorrcVerifiedByTor(t *testing.T) {
	testenv.RequireTor(t)
	override, err := LoadFile("testdata/override.yaml")
	if err != nil {
		t.Fatal(err)
	}
	supported, err := SupportedFlags(context.Background(), "tor")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		p      *Policy
		offset int
		lines  []string
	}{
		{"default", Default(), 0, []string{
			"SocksPort 127.0.0.1:9050 IsolateDestAddr IsolateDestPort",
			"SocksPort 127.0.0.1:9062 IsolateDestAddr IsolateDestPort",
			"SocksPort 127.0.0.1:9063",
			"SocksPort 127.0.0.1:9150 IsolateSOCKSAuth KeepAliveIsolateSOCKSAuth",
			"TransPort 127.0.0.1:9040",
			"DNSPort 127.0.0.1:5353",
		}},
		{"default+30000", Default(), 30000, []string{"SocksPort 127.0.0.1:39050 IsolateDestAddr IsolateDestPort", "DNSPort 127.0.0.1:35353"}},
		{"default-4000", Default(), -4000, []string{"SocksPort 127.0.0.1:5050 IsolateDestAddr IsolateDestPort", "DNSPort 127.0.0.1:1353"}},
		{"override", override, 0, []string{
			"SocksPort 127.0.0.1:9151 NoIsolateClientAddr IsolateClientProtocol SessionGroup=7 ExtendedErrors NoOnionTraffic",
			"TransPort 127.0.0.1:9040 IsolateDestAddr",
			"SocksPort 127.0.0.1:9061 IsolateDestAddr",
		}},
		{"override+1", override, 1, []string{"SocksPort 127.0.0.1:9062 IsolateDestAddr"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.p.Validate(supported); err != nil {
				t.Fatal(err)
			}
			text, err := c.p.Torrc(c.offset)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range c.lines {
				if !strings.Contains(text, "\n"+l+"\n") {
					t.Errorf("snippet lacks %q:\n%s", l, text)
				}
			}
			verifyTorrc(t, text)
		})
	}
}

// TestSupportedFlags asks the real tor, then a stand-in for an older tor
// that does not know KeepAliveIsolateSOCKSAuth (it only warns, as tor
// does, and calls the configuration valid).
func TestSupportedFlags(t *testing.T) {
	testenv.RequireTor(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	got, err := SupportedFlags(context.Background(), "tor")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"IsolateDestAddr", "IsolateDestPort", "IsolateSOCKSAuth", "KeepAliveIsolateSOCKSAuth", "SessionGroup", "NoIsolateClientAddr"} {
		if !got[f] {
			t.Errorf("installed tor said not to support %s", f)
		}
	}
	old := filepath.Join(t.TempDir(), "oldtor")
	script := "#!/bin/sh\n" +
		"f=\"$3\"\n" +
		"if grep -q KeepAliveIsolateSOCKSAuth \"$f\"; then echo \"[warn] Unrecognized SocksPort option '\\\"KeepAliveIsolateSOCKSAut\\\"'\"; fi\n" +
		"echo 'Configuration was valid'\n"
	if err := os.WriteFile(old, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err = SupportedFlags(context.Background(), old)
	if err != nil {
		t.Fatal(err)
	}
	if got["KeepAliveIsolateSOCKSAuth"] || got["NoKeepAliveIsolateSOCKSAuth"] || !got["IsolateDestAddr"] {
		t.Errorf("old tor: KeepAlive %v, IsolateDestAddr %v", got["KeepAliveIsolateSOCKSAuth"], got["IsolateDestAddr"])
	}
	err = Default().Validate(got)
	if err == nil || !strings.Contains(err.Error(), "built-in default policy:") || !strings.Contains(err.Error(), "flag KeepAliveIsolateSOCKSAuth is not supported by the installed tor") {
		t.Errorf("default policy against the old tor: %v", err)
	}
}

package confine

import (
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func spec(transparent bool) Spec {
	return Spec{App: "browser", Index: 3, Host: netip.MustParseAddr("10.200.3.1"), NS: netip.MustParseAddr("10.200.3.2"),
		SocksPort: 9150, TransPort: 9040, DNSPort: 5353, Transparent: transparent}
}

func TestRulesets(t *testing.T) {
	for _, tc := range []struct {
		transparent bool
		host, ns    []string
		notHost     []string
		notNS       []string
	}{
		{false,
			[]string{`iifname "ts-h3" ip saddr 10.200.3.2 ip daddr 10.200.3.1 tcp dport 9150 accept`, `iifname "ts-h3" drop`,
				`oifname "ts-h3" ip saddr 10.200.3.1 ip daddr 10.200.3.2 ct state established accept`, `oifname "ts-h3" drop`,
				"table inet ts_confine_3 {"},
			[]string{"policy drop;", `oifname "ts-n3" ip saddr 10.200.3.2 ip daddr 10.200.3.1 tcp dport 9150 accept`, `iifname "ts-n3" ip daddr 10.200.3.2 ct state established accept`},
			[]string{"dnat", "9040", "5353"},
			[]string{"udp", "l4proto"}},
		{true,
			[]string{`iifname "ts-h3" ip saddr 10.200.3.2 meta l4proto tcp dnat ip to 10.200.3.1:9040`, `iifname "ts-h3" ip saddr 10.200.3.2 udp dport 53 dnat ip to 10.200.3.1:5353`,
				`tcp dport 9040 accept`, `udp dport 5353 accept`},
			[]string{`oifname "ts-n3" ip saddr 10.200.3.2 meta l4proto tcp accept`, `oifname "ts-n3" ip saddr 10.200.3.2 udp dport 53 accept`},
			nil, nil},
	} {
		s := spec(tc.transparent)
		h, err := HostRuleset(s)
		if err != nil {
			t.Fatal(err)
		}
		n, err := NSRuleset(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.host {
			if !strings.Contains(h, w) {
				t.Errorf("transparent %v: host ruleset lacks %q:\n%s", tc.transparent, w, h)
			}
		}
		for _, w := range tc.notHost {
			if strings.Contains(h, w) {
				t.Errorf("transparent %v: host ruleset has %q:\n%s", tc.transparent, w, h)
			}
		}
		for _, w := range tc.ns {
			if !strings.Contains(n, w) {
				t.Errorf("transparent %v: namespace ruleset lacks %q:\n%s", tc.transparent, w, n)
			}
		}
		for _, w := range tc.notNS {
			if strings.Contains(n, w) {
				t.Errorf("transparent %v: namespace ruleset has %q:\n%s", tc.transparent, w, n)
			}
		}
		// nft itself checks both (without applying them) when it can.
		if _, err := exec.LookPath("nft"); err == nil && os.Geteuid() == 0 {
			for _, rs := range []string{h, n} {
				cmd := exec.Command("nft", "-c", "-f", "-")
				cmd.Stdin = strings.NewReader(rs)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("nft -c refuses:\n%s\n%s", rs, out)
				}
			}
		}
	}
}

func TestSpecCheck(t *testing.T) {
	for _, bad := range []func(*Spec){
		func(s *Spec) { s.App = "Browser; drop" },
		func(s *Spec) { s.App = `a" accept` },
		func(s *Spec) { s.Index = 0 },
		func(s *Spec) { s.Index = 251 },
		func(s *Spec) { s.NS = s.Host },
		func(s *Spec) { s.Host = netip.MustParseAddr("fd00::1") },
		func(s *Spec) { s.DNSPort = 0 },
		func(s *Spec) { s.SocksPort = 70000 },
	} {
		s := spec(false)
		bad(&s)
		if _, err := HostRuleset(s); err == nil {
			t.Errorf("rendered %+v", s)
		}
		if _, err := NSRuleset(s); err == nil {
			t.Errorf("rendered %+v", s)
		}
	}
}

func TestIsOurLink(t *testing.T) {
	for name, want := range map[string]bool{"ts-h1": true, "ts-n250": true, "ts-x1": false, "ts-h": false, "ts-h1a": false, "eth0": false, "tsh1": false} {
		if isOurLink(name) != want {
			t.Errorf("isOurLink(%q) = %v", name, !want)
		}
	}
}

// TestEnvFileLoader: the caller's environment reaches the command intact
// through the file and the loader, and nothing of it runs as code.
func TestEnvFileLoader(t *testing.T) {
	dir := t.TempDir()
	f := dir + "/env"
	env := []string{"PLAIN=x", `QUOTES=it's "q" $(touch ` + dir + `/pwned) ` + "`id`", "NL=a\nb", "EMPTY=", "BASH_FUNC_x%%=() { :; }", "EQ=a=b", "PATH=/usr/bin:/bin"}
	if err := WriteEnvFile(f, env); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/bin/sh", "-c", loader, f, dir, "env").Output()
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, w := range []string{"PLAIN=x\n", `QUOTES=it's "q" $(touch ` + dir + `/pwned) ` + "`id`\n", "NL=a\nb\n", "EMPTY=\n", "EQ=a=b\n", "PWD=" + dir + "\n"} {
		if !strings.Contains(got, w) {
			t.Errorf("env lacks %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "BASH_FUNC") {
		t.Errorf("a name the shell cannot take went through:\n%s", got)
	}
	if _, err := os.Stat(dir + "/pwned"); err == nil {
		t.Error("a value ran as a command")
	}
}

// TestCommandEnv: what runs as root gets a fixed environment, and the
// caller's never shows in the command line.
func TestCommandEnv(t *testing.T) {
	m := &Manager{}
	cmd, err := m.Command(t.Context(), spec(false), 1000, 1000, []string{"curl", "x"}, "/tmp/run/env", "/home/u")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cmd.Env, " ") != strings.Join(rootEnv, " ") {
		t.Errorf("root's part runs with %q", cmd.Env)
	}
	want := []string{"netns", "exec", "ts-browser", "setpriv", "--reuid=1000", "--regid=1000"}
	if strings.Join(cmd.Args[1:7], " ") != strings.Join(want, " ") || cmd.Args[len(cmd.Args)-2] != "curl" {
		t.Errorf("args %q", cmd.Args)
	}
	if _, err := m.Command(t.Context(), spec(false), 0, 0, []string{"id"}, "/tmp/env", "/"); err == nil {
		t.Error("a command as root")
	}
}

// TestDirect: the SOCKS-only command drops to the caller in the child
// and carries the caller's environment to the command alone.
func TestDirect(t *testing.T) {
	m := &Manager{}
	cmd, err := m.Direct(spec(false), 1000, 1001, []string{"curl", "x"}, []string{"A=b"}, "/home/u")
	if err != nil {
		t.Fatal(err)
	}
	cr := cmd.SysProcAttr.Credential
	if cr == nil || cr.Uid != 1000 || cr.Gid != 1001 || cmd.Dir != "/home/u" || strings.Join(cmd.Env, " ") != "A=b" {
		t.Errorf("credential %+v, dir %q, env %q", cr, cmd.Dir, cmd.Env)
	}
	if cmd.Path != "/bin/sh" || cmd.Args[len(cmd.Args)-2] != "curl" {
		t.Errorf("args %q", cmd.Args)
	}
	if _, err := m.Direct(spec(false), 0, 0, []string{"id"}, nil, "/"); err == nil {
		t.Error("a command as root")
	}
}

package torsup

import (
	"strings"
	"testing"
)

func TestTorrcByMode(t *testing.T) {
	join := []string{"TestingTorNetwork 1", "DirAuthority a orport=1 v3ident=X 127.0.0.1:2 FP"}
	tn := New(Config{Mode: Testnet, JoinTorrc: join}).Torrc()
	if strings.Join(tn[:2], "\n") != strings.Join(join, "\n") || tn[len(tn)-2] != "SocksPort 127.0.0.1:auto ExtendedErrors" || tn[len(tn)-1] != "VanguardsLiteEnabled 1" {
		t.Fatalf("testnet torrc %q", tn)
	}
	pub := New(Config{Mode: Public, JoinTorrc: join}).Torrc()
	for _, l := range pub {
		if strings.Contains(l, "DirAuthority") || strings.Contains(l, "TestingTorNetwork") {
			t.Fatalf("public torrc carries testnet line %q", l)
		}
	}
}

func TestCheckRefusesBadConfig(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{Mode: "moon"}, "unknown network mode"},
		{Config{Mode: System}, "--tor-control"},
		{Config{Mode: Public, TorBinary: "/nonexistent/tor"}, "apt-get install tor"},
	}
	for _, c := range cases {
		err := New(c.cfg).Check()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestFirstListener(t *testing.T) {
	for in, want := range map[string]string{
		`"127.0.0.1:9050"`:                    "127.0.0.1:9050",
		`"127.0.0.1:41000" "127.0.0.1:41001"`: "127.0.0.1:41000",
		``:                                    "",
		`"unix:/run/tor/socks"`:               "unix:/run/tor/socks",
	} {
		if got := firstListener(in); got != want {
			t.Errorf("firstListener(%q) = %q, want %q", in, got, want)
		}
	}
}

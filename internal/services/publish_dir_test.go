package services

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tails-server/internal/catalog"
	"tails-server/internal/onionkey"
	"tails-server/internal/tor"
)

func TestHSGroup(t *testing.T) {
	svcs := map[string]dirService{
		"web": {Name: "web", Dir: "/d/web", Ports: []tor.PortMapping{{Virtual: 80, Target: "127.0.0.1:8080"}}, MaxStreams: 32,
			PoW: &tor.PoWParams{QueueRate: 250, QueueBurst: 2500}},
		"drop": {Name: "drop", Dir: "/d/drop", Ports: []tor.PortMapping{{Virtual: 80, Target: "127.0.0.1:9000"}, {Virtual: 22, Target: "127.0.0.1:2222"}}},
	}
	line := func(kv []tor.KeyValue) string {
		var b []string
		for _, x := range kv {
			b = append(b, x.Key+"="+x.Value)
		}
		return strings.Join(b, "|")
	}
	want := "HiddenServiceDir=/d/drop|HiddenServicePort=80 127.0.0.1:9000|HiddenServicePort=22 127.0.0.1:2222|HiddenServiceOnionbalanceInstance=1|" +
		"HiddenServiceDir=/d/web|HiddenServicePort=80 127.0.0.1:8080|HiddenServiceOnionbalanceInstance=1|HiddenServiceMaxStreams=32|HiddenServiceMaxStreamsCloseCircuit=1|" +
		"HiddenServicePoWDefensesEnabled=1|HiddenServicePoWQueueRate=250|HiddenServicePoWQueueBurst=2500"
	if got := line(hsGroup(svcs, true)); got != want {
		t.Errorf("group:\n%s\nwant:\n%s", got, want)
	}
	if got := line(hsGroup(svcs, false)); strings.Contains(got, "PoW") {
		t.Errorf("group without pow: %s", got)
	}
	if got := line(hsGroup(nil, true)); got != "HiddenServiceDir=" {
		t.Errorf("empty group %q, want the reset", got)
	}
}

func TestNormalizeMaster(t *testing.T) {
	k, _ := onionkey.GenerateServiceKey()
	a := k.Address()
	for _, in := range []string{a, a + ".onion", strings.ToUpper(a)} {
		if got, err := NormalizeMaster(in); err != nil || got != a+".onion" {
			t.Errorf("NormalizeMaster(%q) = %q, %v", in, got, err)
		}
	}
	if got, err := NormalizeMaster(""); got != "" || err != nil {
		t.Errorf("empty: %q %v", got, err)
	}
	if _, err := NormalizeMaster(strings.Repeat("a", 56)); err == nil || !strings.Contains(err.Error(), "is not a v3 onion address") {
		t.Errorf("bad checksum: %v", err)
	}
}

// fakeHSControl answers GETCONF DataDirectory, GETINFO process/uid and
// SETCONF, and passes on the SETCONF lines.
func fakeHSControl(t *testing.T, dataDir string) (*tor.Conn, <-chan string) {
	t.Helper()
	a, b := net.Pipe()
	c := tor.NewConn(a)
	t.Cleanup(func() { c.Close(); b.Close() })
	lines := make(chan string, 8)
	go func() {
		br := bufio.NewReader(b)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			l = strings.TrimSuffix(l, "\r\n")
			switch {
			case strings.HasPrefix(l, "GETCONF DataDirectory"):
				b.Write([]byte("250 DataDirectory=" + dataDir + "\r\n"))
			case strings.HasPrefix(l, "GETINFO process/uid"):
				b.Write([]byte("250-process/uid=" + strconv.Itoa(os.Getuid()) + "\r\n250 OK\r\n"))
			case strings.HasPrefix(l, "SETCONF"):
				lines <- l
				b.Write([]byte("250 OK\r\n"))
			default:
				b.Write([]byte("510 Unrecognized command\r\n"))
			}
		}
	}()
	return c, lines
}

func TestPublishDirAndWithdraw(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	data := t.TempDir()
	m, s, req := protectionService(t, map[string]string{catalog.OptPoW: "false"})
	c, lines := fakeHSControl(t, data)
	master := "x.onion"
	s.mu.Lock()
	m.protect(s, &req)
	s.mu.Unlock()
	if err := m.publishDir(ctx, s, c, req, master); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(data, HSDirRoot, "web")
	got := <-lines
	want := `SETCONF HiddenServiceDir="` + dir + `" HiddenServicePort="80 8080" HiddenServiceOnionbalanceInstance="1" HiddenServiceMaxStreams="64" HiddenServiceMaxStreamsCloseCircuit="1"`
	if got != want {
		t.Errorf("SETCONF:\n%s\nwant:\n%s", got, want)
	}
	key, err := os.ReadFile(filepath.Join(dir, "hs_ed25519_secret_key"))
	if err != nil {
		t.Fatal(err)
	}
	if k, err := onionkey.ParseSecretKeyFile(key); err != nil || k.Address() != s.key.Address() {
		t.Errorf("the key in the HiddenServiceDir: %v", err)
	}
	if ob, _ := os.ReadFile(filepath.Join(dir, "ob_config")); string(ob) != "MasterOnionAddress x.onion\n" {
		t.Errorf("ob_config %q", ob)
	}
	for _, p := range []string{dir, filepath.Join(dir, "hs_ed25519_secret_key"), filepath.Join(dir, "ob_config")} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: %v %v, want closed to group and others", p, fi.Mode(), err)
		}
	}
	// Published again (a self-check failed, a tor restart): the same.
	if err := m.publishDir(ctx, s, c, req, master); err != nil {
		t.Fatal(err)
	}
	if again := <-lines; again != want {
		t.Errorf("second SETCONF %s", again)
	}
	if !m.withdrawDir(ctx, s, c) {
		t.Fatal("withdrawDir: not in the group")
	}
	if reset := <-lines; reset != "SETCONF HiddenServiceDir" {
		t.Errorf("withdraw sent %q, want the group's reset", reset)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the HiddenServiceDir stays: %v", err)
	}
	if m.withdrawDir(ctx, s, c) {
		t.Error("withdrawn twice")
	}
}

func TestBalanceConflict(t *testing.T) {
	m, s, _ := protectionService(t, nil)
	if err := m.balanceConflict(s, catalog.OptBalanceMaster, "x.onion"); err == nil ||
		err.Error() != "Onionbalance cannot publish descriptors with client authorization: turn client-auth off first" {
		t.Errorf("balance-master with client auth on: %v", err)
	}
	m, s, _ = protectionService(t, map[string]string{catalog.OptClientAuth: "false", catalog.OptBalanceMaster: "x.onion"})
	if err := m.balanceConflict(s, catalog.OptClientAuth, "true"); err == nil || !strings.Contains(err.Error(), "client-auth cannot be on while balance-master is set") {
		t.Errorf("client-auth on with balance-master: %v", err)
	}
	if err := m.balanceConflict(s, catalog.OptBalanceMaster, ""); err != nil {
		t.Errorf("clearing balance-master: %v", err)
	}
}

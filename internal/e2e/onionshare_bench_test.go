package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tails-server/internal/client"
	"tails-server/internal/testenv"
	"tails-server/internal/testnet"
)

// onionShareRounds is how many downloads, per iteration, each server
// serves; the order alternates.
const onionShareRounds = 5

// BenchmarkFileshareVsOnionShare downloads the same 100 MiB file through
// the onion from fileshare and from OnionShare-cli (Debian's
// onionshare-cli 2.6) sharing it, both without client auth (fileshare's
// client-auth off, OnionShare's --public), with one independent client
// tor and curl, alternating, each download on a fresh rendezvous circuit.
// OnionShare is pointed, with its own settings file (connection_type
// control_port, cookie authentication), at a tor this benchmark starts
// joined to the private network; the benchmark checks that tor's torrc
// carries the private DirAuthority lines and that OnionShare started no
// tor of its own. It reports each one's median throughput, their ratio
// fileshare/OnionShare (target ≥ 1.0), and the memory of each while
// sharing: VmRSS before the downloads, at most during its own downloads
// (sampled every 50 ms), and after.
//
//	go test -run '^$' -bench BenchmarkFileshareVsOnionShare -benchtime 1x ./internal/e2e
func BenchmarkFileshareVsOnionShare(b *testing.B) {
	if tnet == nil {
		b.Fatal("no private network: run `make bench`")
	}
	testenv.RequireProgram(b, "curl")
	testenv.RequireProgram(b, "onionshare-cli")
	d := benchDaemon(b)
	c := client.New(d.socket)
	ctx := context.Background()

	s, err := c.Info(ctx, "fileshare", true)
	if err != nil {
		b.Fatal(err)
	}
	shareDir := filepath.Join(s.Details.DataDir, "data", "share")
	if err := os.MkdirAll(shareDir, 0o755); err != nil {
		b.Fatal(err)
	}
	file := randomFile(b, filepath.Join(shareDir, "big.bin"), fileshareBenchSize)
	if _, err := c.SetOption(ctx, "fileshare", "client-auth", "false"); err != nil {
		b.Fatal(err)
	}
	if s, err = c.Enable(ctx, "fileshare", 4*time.Minute); err != nil {
		b.Fatal(err)
	}
	if !s.Reachable {
		b.Fatalf("fileshare not reachable: %s %s", s.State, s.Error)
	}
	addr := map[string]string{"fileshare": strings.TrimSuffix(s.OnionAddress, ".onion")}

	osh := startOnionShare(b, file)
	addr["onionshare"] = osh.addr

	cl := startTor(b, "onionshare-bench-client")
	ctl := controlOf(b, cl)
	defer ctl.Close()
	url := map[string]string{
		"fileshare":  "http://" + addr["fileshare"] + ".onion/files/big.bin",
		"onionshare": "http://" + addr["onionshare"] + ".onion/download",
	}
	pid := map[string]int{"fileshare": d.cmd.Process.Pid, "onionshare": osh.cmd.Process.Pid}
	before := map[string]int{}
	for name, p := range pid {
		before[name] = procStatusKB(b, p, "VmRSS")
	}
	speeds := map[string][]float64{}
	peak := map[string]int{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < onionShareRounds; r++ {
			order := []string{"fileshare", "onionshare"}
			if (i*onionShareRounds+r)%2 == 1 {
				order = []string{"onionshare", "fileshare"}
			}
			for _, name := range order {
				freshPath(b, ctl, cl.SocksAddr, addr[name])
				stop := sampleRSS(pid[name])
				mibs := curlThroughput(b, cl.SocksAddr, url[name])
				peak[name] = max(peak[name], stop())
				speeds[name] = append(speeds[name], mibs)
				b.Logf("round %d: %-10s %.2f MiB/s", i*onionShareRounds+r, name, mibs)
			}
		}
	}
	b.StopTimer()
	if osh.torOfItsOwn() {
		b.Fatal("OnionShare started a tor of its own")
	}
	f, o := median(speeds["fileshare"]), median(speeds["onionshare"])
	b.ReportMetric(f, "MiB/s-fileshare")
	b.ReportMetric(o, "MiB/s-onionshare")
	b.ReportMetric(f/o, "ratio")
	for _, name := range []string{"fileshare", "onionshare"} {
		b.ReportMetric(float64(before[name])/1024, "RSS-"+name+"-before-MiB")
		b.ReportMetric(float64(peak[name])/1024, "RSS-"+name+"-max-during-MiB")
		b.ReportMetric(float64(procStatusKB(b, pid[name], "VmRSS"))/1024, "RSS-"+name+"-after-MiB")
	}
}

// startTor starts a tor joined to the private network, stopped at the
// end of the benchmark.
func startTor(b *testing.B, name string) *testnet.Tor {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tr, err := tnet.StartTor(ctx, fmt.Sprintf("%s-%d", name, time.Now().UnixNano()), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tr.Stop() })
	return tr
}

type onionShare struct {
	cmd  *exec.Cmd
	addr string // without ".onion"
}

var onionURLRE = regexp.MustCompile(`http://([a-z2-7]{56})\.onion`)

// startOnionShare starts a tor joined to the private network (checking
// its torrc carries the network's DirAuthority lines), then
// `onionshare-cli --public --no-autostop-sharing FILE` with a settings
// file that points it at that tor's control port, and returns once it
// printed its address.
func startOnionShare(b *testing.B, file string) *onionShare {
	b.Helper()
	tr := startTor(b, "onionshare-tor")
	torrc, err := os.ReadFile(filepath.Join(tr.Dir, "torrc"))
	if err != nil {
		b.Fatal(err)
	}
	auths := 0
	for _, l := range strings.Split(tnet.JoinTorrc, "\n") {
		if strings.HasPrefix(l, "DirAuthority ") {
			auths++
			if !strings.Contains(string(torrc), l+"\n") {
				b.Fatalf("OnionShare's tor: torrc lacks the private network's %q", l)
			}
		}
	}
	if auths == 0 || !strings.Contains(string(torrc), "TestingTorNetwork 1\n") {
		b.Fatalf("OnionShare's tor: torrc is not the private network's:\n%s", torrc)
	}
	host, port, ok := strings.Cut(tr.ControlAddr, ":")
	portN, err := strconv.Atoi(port)
	if !ok || host != "127.0.0.1" || err != nil {
		b.Fatalf("OnionShare's tor: control address %q", tr.ControlAddr)
	}
	home := b.TempDir()
	settings, _ := json.Marshal(map[string]any{
		"connection_type":      "control_port",
		"control_port_address": host,
		"control_port_port":    portN,
		"auth_type":            "no_auth", // stem then authenticates with the cookie
		"use_autoupdate":       false,
		"bridges_enabled":      false,
	})
	cfg := filepath.Join(home, "onionshare.json")
	if err := os.WriteFile(cfg, settings, 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("onionshare-cli", "--config", cfg, "--public", "--no-autostop-sharing", file)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	found := make(chan string, 1)
	var mu sync.Mutex
	var log []string
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sc.Split(scanLinesOrCR)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			log = append(log, line)
			mu.Unlock()
			if m := onionURLRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case a := <-found:
		b.Logf("OnionShare shares %s at %s.onion, on tor %s (pid %d)", filepath.Base(file), a, tr.Name, tr.PID)
		return &onionShare{cmd: cmd, addr: a}
	case <-time.After(3 * time.Minute):
		mu.Lock()
		defer mu.Unlock()
		b.Fatalf("OnionShare printed no address within 3 minutes:\n%s", strings.Join(log, "\n"))
		return nil
	}
}

// torOfItsOwn reports whether a tor runs among OnionShare's descendants.
func (o *onionShare) torOfItsOwn() bool {
	parents := map[int]int{}
	comm := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp := procStatusKBQuiet(p, "PPid"); pp != 0 {
			parents[p] = pp
		}
		if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p)); err == nil {
			comm[p] = strings.TrimSpace(string(raw))
		}
	}
	for p, name := range comm {
		if name != "tor" {
			continue
		}
		for q := parents[p]; q > 1; q = parents[q] {
			if q == o.cmd.Process.Pid {
				return true
			}
		}
	}
	return false
}

// scanLinesOrCR splits at LF or CR (OnionShare redraws its progress bar
// with CR).
func scanLinesOrCR(data []byte, atEOF bool) (int, []byte, error) {
	for i, c := range data {
		if c == '\n' || c == '\r' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

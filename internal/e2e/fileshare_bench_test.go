package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tails-server/internal/client"
	"tails-server/internal/onionkey"
	"tails-server/internal/testenv"
)

// fileshareBenchSize is the file both servers serve: 100 MiB.
const fileshareBenchSize = 100 << 20

// fileshareBenchRounds is how many times, per iteration, each server's
// download is timed; the order alternates.
const fileshareBenchRounds = 4

// BenchmarkFileshareThroughput downloads the same 100 MiB file through
// the onion from the built-in fileshare service and from the lighttpd
// service, enabled on one daemon, with one independent client tor and
// curl, alternating the two, each download on a fresh rendezvous circuit.
// It reports each one's median throughput and
// their ratio (target ≥ 0.9), and the daemon's memory (VmRSS before the
// transfers, the highest VmRSS sampled every 50 ms while fileshare
// sends, VmRSS and VmHWM after): fileshare streams, so memory stays flat.
//
//	go test -run '^$' -bench BenchmarkFileshare -benchtime 1x ./internal/e2e
func BenchmarkFileshareThroughput(b *testing.B) {
	if tnet == nil {
		b.Fatal("no private network: run `make bench`")
	}
	testenv.RequireProgram(b, "lighttpd")
	testenv.RequireProgram(b, "curl")
	d := benchDaemon(b)
	// lighttpd runs as its own user: it must traverse the temp dirs.
	for _, dir := range []string{filepath.Dir(d.socket), filepath.Dir(filepath.Dir(d.socket))} {
		os.Chmod(dir, 0o711)
	}
	c := client.New(d.socket)
	ctx := context.Background()

	content := make([]byte, fileshareBenchSize)
	rand.Read(content)
	place := func(service, folder string) {
		s, err := c.Info(ctx, service, true)
		if err != nil {
			b.Fatal(err)
		}
		dir := filepath.Join(s.Details.DataDir, "data", folder)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "big.bin"), content, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	// Credentials first (the key pairs exist before the onions), then
	// one client tor that holds both.
	creds := map[string]*onionkey.ClientKey{}
	addrs := map[string]string{}
	for _, svc := range []string{"fileshare", "lighttpd"} {
		cl, err := c.AddClient(ctx, svc, "bench")
		if err != nil {
			b.Fatal(err)
		}
		addr, key, err := onionkey.ParseAuthPrivateLine(cl.Credential)
		if err != nil {
			b.Fatal(err)
		}
		addrs[svc], creds[svc] = addr, key
	}
	place("fileshare", "share")
	place("lighttpd", "www")
	for _, svc := range []string{"fileshare", "lighttpd"} {
		s, err := c.Enable(ctx, svc, 4*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if !s.Reachable {
			b.Fatalf("%s not reachable: %s %s", svc, s.State, s.Error)
		}
	}
	cl := independentClient(b, "fileshare-bench", addrs["fileshare"], creds["fileshare"])
	ctl := controlOf(b, cl)
	defer ctl.Close()
	if err := ctl.OnionClientAuthAdd(ctx, addrs["lighttpd"], creds["lighttpd"], "", false); err != nil {
		b.Fatal(err)
	}
	url := map[string]string{
		"fileshare": "http://" + addrs["fileshare"] + ".onion/files/big.bin",
		"lighttpd":  "http://" + addrs["lighttpd"] + ".onion/big.bin",
	}

	pid := d.cmd.Process.Pid
	rssBefore := procStatusKB(b, pid, "VmRSS")
	hwmBefore := procStatusKB(b, pid, "VmHWM")
	var fs, lt []float64
	maxDuring := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < fileshareBenchRounds; r++ {
			order := []string{"fileshare", "lighttpd"}
			if (i*fileshareBenchRounds+r)%2 == 1 {
				order = []string{"lighttpd", "fileshare"}
			}
			for _, svc := range order {
				freshPath(b, ctl, cl.SocksAddr, addrs[svc])
				var stop func() int
				if svc == "fileshare" {
					stop = sampleRSS(pid)
				}
				mibs := curlThroughput(b, cl.SocksAddr, url[svc])
				if stop != nil {
					maxDuring = max(maxDuring, stop())
				}
				if svc == "fileshare" {
					fs = append(fs, mibs)
				} else {
					lt = append(lt, mibs)
				}
				b.Logf("round %d: %-9s %.2f MiB/s", i*fileshareBenchRounds+r, svc, mibs)
			}
		}
	}
	b.StopTimer()
	rssAfter := procStatusKB(b, pid, "VmRSS")
	hwmAfter := procStatusKB(b, pid, "VmHWM")
	f, l := median(fs), median(lt)
	b.ReportMetric(f, "MiB/s-fileshare")
	b.ReportMetric(l, "MiB/s-lighttpd")
	b.ReportMetric(f/l, "ratio")
	b.ReportMetric(float64(rssBefore)/1024, "RSS-before-MiB")
	b.ReportMetric(float64(maxDuring)/1024, "RSS-max-during-MiB")
	b.ReportMetric(float64(rssAfter)/1024, "RSS-after-MiB")
	b.ReportMetric(float64(hwmBefore)/1024, "HWM-before-MiB")
	b.ReportMetric(float64(hwmAfter)/1024, "HWM-after-MiB")
}

// warmUp polls url until it answers any HTTP status.
func warmUp(b *testing.B, socksAddr, url string) {
	b.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out, _ := exec.Command("curl", "-s", "--max-time", "60", "--socks5-hostname", socksAddr,
			"-o", "/dev/null", "-w", "%{http_code}", url).Output()
		if code, _ := strconv.Atoi(strings.TrimSpace(string(out))); code != 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s does not answer through the onion", url)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// curlThroughput downloads url through socksAddr with curl, checks that
// all of it came, and returns MiB/s from the first byte to the last (the
// stream's setup is not the server's doing).
func curlThroughput(b *testing.B, socksAddr, url string) float64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", "-sS", "--fail", "--socks5-hostname", socksAddr,
		"-o", "/dev/null", "-w", "%{size_download} %{time_starttransfer} %{time_total}", url).Output()
	if err != nil {
		b.Fatalf("curl %s: %v", url, err)
	}
	var size int64
	var first, total float64
	if _, err := fmt.Sscan(string(out), &size, &first, &total); err != nil || size != fileshareBenchSize || total <= first {
		b.Fatalf("curl %s: %q (%v), want %d bytes", url, out, err, fileshareBenchSize)
	}
	return float64(size) / (1 << 20) / (total - first)
}

func procStatusKB(b *testing.B, pid int, field string) int {
	b.Helper()
	kb := procStatusKBQuiet(pid, field)
	if kb == 0 {
		b.Fatalf("no %s for pid %d", field, pid)
	}
	return kb
}

// procStatusKBQuiet reads a "kB" field of /proc/PID/status, 0 if absent.
func procStatusKBQuiet(pid int, field string) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb
		}
	}
	return 0
}

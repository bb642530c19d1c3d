package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"tails-server/internal/client"
)

// fiftyCatalog writes n descriptions of built-in web servers (site00 ...)
// into a catalog dir.
func fiftyCatalog(b testing.TB, n int) string {
	dir := filepath.Join(b.TempDir(), "catalog.d")
	os.MkdirAll(dir, 0o755)
	for i := range n {
		name := fmt.Sprintf("site%02d", i)
		desc := fmt.Sprintf(`name: %s
title: Site %d
description: A static site served by the daemon.
backend:
  builtin: web
onion_ports:
  - virtual: 80
options:
  - name: title
    title: Page title
    type: string
    default: Site %d
health:
  http:
    path: /
connect:
  uri: "http://{{.address}}/"
`, name, i, i)
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(desc), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// cliMillis times one run of the CLI (the round trip a user sees:
// process start, API call, output), in milliseconds.
func cliMillis(b *testing.B, socket string, args ...string) float64 {
	start := time.Now()
	out, err := exec.Command(bin, append([]string{"--socket", socket}, args...)...).CombinedOutput()
	if err != nil {
		b.Fatalf("%v: %v\n%s", args, err, out)
	}
	return float64(time.Since(start).Microseconds()) / 1000
}

// BenchmarkFiftyServices: with 50 services described, the CLI's list and
// info round trips; with 50 enabled, the daemon's RSS and the time until
// all are reachable. (Recovery after tor dies: BenchmarkRecovery.)
func BenchmarkFiftyServices(b *testing.B) {
	if tnet == nil {
		b.Fatal("no private network: run `make bench`")
	}
	const n = 50
	cat := fiftyCatalog(b, n)
	var list, info, rss, torRSS, upAll []float64
	for range b.N {
		d := benchDaemonWith(b, "--catalog", cat)
		for range 20 {
			list = append(list, cliMillis(b, d.socket, "list"))
			info = append(info, cliMillis(b, d.socket, "info", "site07"))
		}
		c := client.New(d.socket)
		start := time.Now()
		enableAll(b, c, n)
		waitAllReachable(b, c, n)
		upAll = append(upAll, time.Since(start).Seconds())
		time.Sleep(5 * time.Second)
		rss = append(rss, float64(vmRSS(b, d.cmd.Process.Pid))/1024)
		st, err := c.Daemon(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		sum := 0.0
		for _, t := range allTors(st) {
			sum += float64(vmRSS(b, t.PID)) / 1024
		}
		torRSS = append(torRSS, sum)
		b.Logf("50 enabled: daemon %.1f MiB, its %d tors %.1f MiB together", rss[len(rss)-1], 1+len(st.MoreTors), sum)
		d.stop()
	}
	b.ReportMetric(median(list), "ms-list")
	b.ReportMetric(median(info), "ms-info")
	b.ReportMetric(median(rss), "RSS-MiB-50-enabled")
	b.ReportMetric(median(torRSS), "RSS-MiB-tors-50-enabled")
	b.ReportMetric(median(upAll), "s-enable-50-to-all-reachable")
}

func benchDaemonWith(b *testing.B, extra ...string) *benchD {
	b.Helper()
	dir := b.TempDir()
	// A backend running as its own user must traverse to its data dir.
	for _, p := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(p, 0o711); err != nil {
			b.Fatal(err)
		}
	}
	return benchDaemonIn(b, dir, extra...)
}

// benchDaemonIn starts a daemon keeping its state, socket and volatile
// root in dir, and waits until its tor is ready.
func benchDaemonIn(b *testing.B, dir string, extra ...string) *benchD {
	b.Helper()
	d := &benchD{socket: filepath.Join(dir, "api.sock")}
	args := append([]string{"daemon", "--firewall-table", firewallTable(dir), "--state", filepath.Join(dir, "state"),
		"--volatile-dir", filepath.Join(dir, "volatile"), "--network", "testnet", "--testnet-dir", tnet.Dir,
		"--socket", d.socket, "--check-interval", "30s"}, extra...)
	d.cmd = exec.Command(bin, args...)
	if err := d.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.stop)
	c := client.New(d.socket)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := c.Daemon(context.Background())
		if err == nil && st.Tor.State == "ready" {
			return d
		}
		if time.Now().After(deadline) {
			b.Fatalf("daemon not ready: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func enableAll(b *testing.B, c *client.Client, n int) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Enable(context.Background(), fmt.Sprintf("site%02d", i), time.Millisecond); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
}

func waitAllReachable(b *testing.B, c *client.Client, n int) {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		list, err := c.List(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		up := 0
		var down []string
		for _, s := range list {
			if s.Reachable {
				up++
			} else if s.Enabled {
				down = append(down, s.Name+":"+s.State)
			}
		}
		if up >= n {
			return
		}
		if time.Now().After(deadline) {
			sort.Strings(down)
			b.Fatalf("%d of %d reachable; not: %v", up, n, down)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
	"tails-server/internal/isolation"
	"tails-server/internal/testenv"
)

// confineBenchPolicy confines app bench; its listeners (the unconfined
// one on 127.0.0.1, the confined SOCKS and TransPort on the veth's host
// side) share SessionGroup 7 and isolate by neither client address nor
// SOCKS auth, so that tor may put every stream of the benchmark on one
// circuit: the comparison is of the paths, not of circuits.
const confineBenchPolicy = `ports:
  - name: bench
    port: 9150
    flags: [SessionGroup=7, NoIsolateClientAddr, NoIsolateSOCKSAuth]
    confine: true
apps:
  - name: bench
    port: bench
`

// BenchmarkConfine: the cost of confinement, same daemon, same tor,
// alternating rounds, medians. Start: a confined `isolation run` (the
// namespace, veth and rules made, then removed, each time) fetching a
// small page through Tor, against a plain `isolation run` of the same
// curl; the difference is what confinement adds. Bulk: 32 MiB from an
// onion on the daemon's tor through the unconfined SOCKS port (from the
// host), the confined SOCKS port and the confined TransPort (plain curl,
// the onion's virtual address): ratios against the unconfined port.
func BenchmarkConfine(b *testing.B) {
	if tnet == nil {
		b.Fatal("no private network: run `make bench`")
	}
	testenv.RequireRoot(b, "network namespaces and nftables need root")
	dir, err := os.MkdirTemp("", "confine-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	c := &confineEnv{dir: dir, bin: filepath.Join(dir, "tails-server")}
	if data, err := os.ReadFile(bin); err != nil || os.WriteFile(c.bin, data, 0o755) != nil {
		b.Fatalf("copying the binary: %v", err)
	}
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte(confineBenchPolicy), 0o644)
	c.policy, _ = isolation.Parse("policy.yaml", []byte(confineBenchPolicy))
	plain, _ := isolation.Parse("plain.yaml", []byte(strings.ReplaceAll(confineBenchPolicy, "confine: true", "confine: false")))
	c.offset = freeOffset(b, plain)
	d := benchDaemonIn(b, dir, "--gui-listen", "off", "--isolation-policy", pol, "--isolation-port-offset", strconv.Itoa(c.offset))
	c.socket = d.socket
	g, err := user.LookupGroup("tails-server")
	if err != nil {
		b.Fatal(err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	c.gid = uint32(gid)

	const size = 32 << 20
	blob := strings.Repeat("0123456789abcdef", size/16)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			fmt.Fprint(w, "hello\n")
			return
		}
		w.Write([]byte(blob))
	}))
	port := ln.Addr().(*net.TCPAddr).Port
	onion := c.onion(b, filepath.Join(dir, "volatile"), dest{port: port}) + ".onion"
	cb, _ := c.policy.ConfinedApp("bench")
	unconfined, _ := c.policy.SocksAddr("bench", c.offset)

	// Follow the audit, to see which circuits the bulk streams took.
	cl := client.New(c.socket)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cl.FollowIsolationAudit(ctx, time.Hour, func(ev apitype.IsolationAuditEvent) {
		c.mu.Lock()
		c.events = append(c.events, ev)
		c.mu.Unlock()
	})

	small := fmt.Sprintf(`curl -sS -m 60 -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/small`, port)
	bulk := func(proxy bool) string {
		px := `--noproxy '*'`
		if proxy {
			px = `--socks5-hostname "${ALL_PROXY#socks5h://}"`
		}
		return fmt.Sprintf(`curl -sS -m 300 %s -o /dev/null -w '%%{size_download} %%{speed_download}' http://%s/`, px, onion)
	}
	rate := func(out string) float64 {
		f := strings.Fields(out)
		if len(f) != 2 {
			b.Fatalf("curl said %q", out)
		}
		n, _ := strconv.Atoi(f[0])
		v, _ := strconv.ParseFloat(f[1], 64)
		if n < size {
			b.Fatalf("read %d bytes", n)
		}
		return v / 1e6
	}
	timed := func(confined bool) float64 {
		start := time.Now()
		var out, errOut string
		if confined {
			out, errOut, _ = c.inside(b, "bench", false, small)
		} else {
			out, errOut, _ = c.outside(b, "bench", small)
		}
		if out != "200" {
			b.Fatalf("small fetch (confined %v): %q %s", confined, out, errOut)
		}
		return float64(time.Since(start).Microseconds()) / 1000
	}
	// Warm up: the circuit to the exit and the onion's rendezvous.
	for try := 0; ; try++ {
		out, _, _ := c.outside(b, "bench", bulk(true))
		if strings.HasPrefix(out, strconv.Itoa(size)+" ") {
			break
		}
		if try == 30 {
			b.Fatalf("the onion never answered: %q", out)
		}
		time.Sleep(2 * time.Second)
	}
	timed(false)
	timed(true)

	var startPlain, startConf, bulkPlain, bulkSocks, bulkTrans []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < 5; j++ {
			if (i+j)%2 == 0 {
				startPlain = append(startPlain, timed(false))
				startConf = append(startConf, timed(true))
			} else {
				startConf = append(startConf, timed(true))
				startPlain = append(startPlain, timed(false))
			}
		}
		order := []int{0, 1, 2}
		if i%2 == 1 {
			order = []int{2, 1, 0}
		}
		for _, k := range order {
			switch k {
			case 0:
				out, _, _ := c.outside(b, "bench", bulk(true))
				bulkPlain = append(bulkPlain, rate(out))
			case 1:
				out, _, _ := c.inside(b, "bench", false, bulk(true))
				bulkSocks = append(bulkSocks, rate(out))
			case 2:
				out, _, _ := c.inside(b, "bench", true, bulk(false))
				bulkTrans = append(bulkTrans, rate(out))
			}
		}
	}
	b.StopTimer()
	// The circuits the bulk streams took, as the audit saw them.
	circs := map[string]map[string]bool{}
	c.mu.Lock()
	for _, ev := range c.events {
		if s := ev.Stream; s != nil && (strings.HasPrefix(s.Target, onion) || s.Protocol == "TRANS") {
			if circs[s.Port] == nil {
				circs[s.Port] = map[string]bool{}
			}
			for _, ci := range s.Circuits {
				circs[s.Port][ci] = true
			}
		}
	}
	c.mu.Unlock()
	b.Logf("circuits of the onion streams per listener (%s unconfined, %s confined): %v", unconfined, cb.Host, circs)
	b.Logf("start to first byte: plain %.1f ms, confined %.1f ms (medians of %d)", median(startPlain), median(startConf), len(startConf))
	b.Logf("bulk MB/s: unconfined %.2f, confined SOCKS %.2f, TransPort %.2f", median(bulkPlain), median(bulkSocks), median(bulkTrans))
	b.ReportMetric(median(startConf)-median(startPlain), "ms-added-start")
	b.ReportMetric(median(bulkSocks)/median(bulkPlain), "ratio-confined-socks")
	b.ReportMetric(median(bulkTrans)/median(bulkPlain), "ratio-transport")
}

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"tails-server/internal/client"
	"tails-server/internal/socks"
	"tails-server/internal/testnet"
)

// floodScenario is one window of BenchmarkFlood: web with options set
// (in order: a burst is never below the rate), under attack (or none),
// measured by a legitimate client.
type floodScenario struct {
	name    string
	attack  string      // "": none; "intro": rendezvous attempts; "streams": held streams
	options [][2]string // set-option NAME VALUE, in order
	// warmup: the window starts only once tor has raised the suggested
	// effort above 0 under the attack (it updates it every 300 s,
	// HS_UPDATE_PERIOD), or after 6 minutes.
	warmup bool
}

// floodScenarios are the scenarios, in order (FLOOD_SCENARIOS, a
// comma-separated list of names, picks some). intro-pow-rate-10 lowers
// pow-queue-rate below what the attackers send, so tor's queue overflows
// and it raises the suggested effort; with tor's default 250 a second the
// attackers one machine bears never fill it.
var floodScenarios = []floodScenario{
	{name: "quiet", options: [][2]string{{"pow", "true"}}},
	{name: "intro-pow-off", attack: "intro", options: [][2]string{{"pow", "false"}}},
	{name: "intro-pow-on", attack: "intro", options: [][2]string{{"pow", "true"}}},
	{name: "intro-pow-rate-10", attack: "intro", options: [][2]string{{"pow", "true"}, {"pow-queue-rate", "10"}, {"pow-queue-burst", "20"}}, warmup: true},
	{name: "streams-max-streams-0", attack: "streams", options: [][2]string{{"pow", "false"}, {"max-streams", "0"}}},
	{name: "streams-max-streams-64", attack: "streams", options: [][2]string{{"pow", "false"}, {"max-streams", "64"}}},
}

// floodFigures is what one window measured.
type floodFigures struct {
	attempts, ok       int
	ttfb               []float64 // seconds, of the successful attempts
	attackTries        int64     // rendezvous attempts (intro) or streams (streams) the attackers began
	attackOK           int64     // of them, those that connected
	effort, rejected   float64   // tor_hs_pow_suggested_effort, tor_hs_intro_rejected_intro_req_count at the end
	serviceCPU, attCPU float64   // share of one core: the daemon's service tor; the attackers' tors together
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkFlood (`make flood`): FLOOD_ATTACKERS (3) client tors, stock
// Debian tor with MaxClientCircuitsPending raised, each with
// FLOOD_WORKERS (32) goroutines, flood web (client-auth off: its address
// leaked) while a separate client tor measures, one attempt a second on a
// fresh circuit (a new SOCKS username: new introduction and rendezvous),
// its success rate and time to first byte over FLOOD_WINDOW (2m). "intro"
// attackers open a rendezvous on a fresh circuit and close it at once, as
// fast as their tors go; "streams" attackers hold as many streams open on
// one circuit as it takes (a half-sent request each), then take another.
// A fresh daemon for each scenario; the same network, attackers and
// client throughout.
func BenchmarkFlood(b *testing.B) {
	if tnet == nil {
		b.Fatal("no private network: run `make flood`")
	}
	window := 2 * time.Minute
	if v, err := time.ParseDuration(os.Getenv("FLOOD_WINDOW")); err == nil && v > 0 {
		window = v
	}
	nAtt, workers := envInt("FLOOD_ATTACKERS", 3), envInt("FLOOD_WORKERS", 32)
	scenarios := floodScenarios
	if v := os.Getenv("FLOOD_SCENARIOS"); v != "" {
		names := strings.Split(v, ",")
		scenarios = slices.DeleteFunc(slices.Clone(floodScenarios), func(s floodScenario) bool { return !slices.Contains(names, s.name) })
	}
	var attackers []*testnet.Tor
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range nAtt {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			tr, err := tnet.StartTor(ctx, fmt.Sprintf("flood-attacker%d-%d", i, time.Now().UnixNano()),
				[]string{"MaxClientCircuitsPending 1024"})
			if err != nil {
				b.Error(err)
				return
			}
			b.Cleanup(func() { tr.Stop() })
			mu.Lock()
			attackers = append(attackers, tr)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	legit := startTor(b, "flood-legit") // onionshare_bench_test.go

	got := map[string]floodFigures{}
	for range b.N {
		for _, sc := range scenarios {
			f := floodRun(b, sc, attackers, workers, legit, window)
			got[sc.name] = f
			b.Logf("%s: legitimate client %d/%d ok (%.0f %%), TTFB median %.2f s, p90 %.2f s; attackers began %d, connected %d (%.1f/s); suggested effort %.0f, rejected introductions %.0f; CPU service tor %.0f %%, attackers' tors %.0f %%",
				sc.name, f.ok, f.attempts, 100*float64(f.ok)/float64(max(1, f.attempts)), median(f.ttfb), quantile(f.ttfb, 0.9),
				f.attackTries, f.attackOK, float64(f.attackOK)/window.Seconds(), f.effort, f.rejected, f.serviceCPU, f.attCPU)
		}
	}
	quiet := median(got["quiet"].ttfb)
	for _, sc := range scenarios {
		f := got[sc.name]
		b.ReportMetric(100*float64(f.ok)/float64(max(1, f.attempts)), "%ok-"+sc.name)
		b.ReportMetric(median(f.ttfb), "s-ttfb-"+sc.name)
		if quiet > 0 && sc.name != "quiet" && len(f.ttfb) > 0 {
			b.ReportMetric(median(f.ttfb)/quiet, "ratio-ttfb-"+sc.name+"/quiet")
		}
	}
}

func floodRun(b *testing.B, sc floodScenario, attackers []*testnet.Tor, workers int, legit *testnet.Tor, window time.Duration) floodFigures {
	b.Helper()
	d := benchDaemon(b)
	defer d.stop()
	c := client.New(d.socket)
	ctx := context.Background()
	for _, o := range append([][2]string{{"client-auth", "false"}}, sc.options...) {
		if _, err := c.SetOption(ctx, "web", o[0], o[1]); err != nil {
			b.Fatal(err)
		}
	}
	svc, err := c.Enable(ctx, "web", 3*time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	host := svc.OnionAddress
	if !strings.HasSuffix(host, ".onion") {
		host += ".onion"
	}
	for _, tr := range append(slices.Clone(attackers), legit) {
		cl := controlOf(b, tr)
		cl.Signal(ctx, "NEWNYM") // no circuits of the last scenario
		cl.Close()
	}
	// Every tor has the descriptor before the clock starts.
	for _, tr := range append(slices.Clone(attackers), legit) {
		deadline := time.Now().Add(2 * time.Minute)
		for fetchOnce(ctx, tr.SocksAddr, host) != nil {
			if time.Now().After(deadline) {
				b.Fatalf("%s: %s never reached %s", sc.name, tr.Name, host)
			}
			time.Sleep(time.Second)
		}
	}
	st, err := c.Daemon(ctx)
	if err != nil {
		b.Fatal(err)
	}

	var f floodFigures
	actx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var tries, oks atomic.Int64
	if sc.attack != "" {
		for i, tr := range attackers {
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					floodWorker(actx, sc.attack, tr.SocksAddr, host, fmt.Sprintf("%s-%d-%d", sc.name, i, w), &tries, &oks)
				}()
			}
		}
	}
	if sc.warmup {
		w0 := time.Now()
		effort := 0.0
		for time.Since(w0) < 6*time.Minute && effort == 0 {
			time.Sleep(5 * time.Second)
			effort, _ = floodMetrics(c)
		}
		// Every tor fetches the descriptor again, as a new visitor
		// would: the one with the raised effort.
		for _, tr := range append(slices.Clone(attackers), legit) {
			cl := controlOf(b, tr)
			cl.Signal(ctx, "NEWNYM")
			cl.Close()
		}
		b.Logf("%s: suggested effort %.0f after %s of flood", sc.name, effort, time.Since(w0).Round(time.Second))
	}
	pids := []int{st.Tor.PID}
	for _, tr := range attackers {
		pids = append(pids, torPID(b, tr))
	}
	cpu0 := make([]float64, len(pids))
	for i, p := range pids {
		cpu0[i] = cpuSeconds(b, p)
	}
	tries0, oks0 := tries.Load(), oks.Load()
	t0 := time.Now()
	for n := 0; time.Since(t0) < window; n++ {
		next := time.Now().Add(time.Second)
		f.attempts++
		if ttfb, err := legitFetch(ctx, legit.SocksAddr, host, fmt.Sprintf("legit-%s-%d-%d", sc.name, n, time.Now().UnixNano())); err == nil {
			f.ok++
			f.ttfb = append(f.ttfb, ttfb.Seconds())
		}
		time.Sleep(time.Until(next))
	}
	el := time.Since(t0).Seconds()
	f.attackTries, f.attackOK = tries.Load()-tries0, oks.Load()-oks0
	f.serviceCPU = 100 * (cpuSeconds(b, pids[0]) - cpu0[0]) / el
	for i := 1; i < len(pids); i++ {
		f.attCPU += 100 * (cpuSeconds(b, pids[i]) - cpu0[i]) / el
	}
	f.effort, f.rejected = floodMetrics(c)
	stop()
	wg.Wait()
	return f
}

// torPID is the pid of a testnet tor, from its control port.
func torPID(b *testing.B, tr *testnet.Tor) int {
	cl := controlOf(b, tr)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v, err := cl.GetInfo(ctx, "process/pid")
	if err != nil {
		b.Fatal(err)
	}
	pid, err := strconv.Atoi(v["process/pid"])
	if err != nil {
		b.Fatal(err)
	}
	return pid
}

// floodMetrics reads web's suggested PoW effort and rejected
// introductions from the daemon's metrics (0 when tor has no series).
func floodMetrics(c *client.Client) (effort, rejected float64) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	text, err := c.Metrics(ctx, false)
	if err != nil {
		return 0, 0
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return 0, 0
	}
	for _, v := range seriesOf(fams, "tor_hs_pow_suggested_effort", map[string]string{"service": "web"}) {
		effort = max(effort, v)
	}
	for _, v := range seriesOf(fams, "tor_hs_intro_rejected_intro_req_count", map[string]string{"service": "web"}) {
		rejected += v
	}
	return effort, rejected
}

// legitFetch fetches the page on a fresh circuit (user: a new SOCKS
// username) within 30 s, and returns the time from the SOCKS request to
// the response's first byte.
func legitFetch(ctx context.Context, socksAddr, host, user string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	conn, err := socks.Dial(ctx, socksAddr, host+":80", &socks.Auth{Username: user, Password: "x"})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", host)
	br := bufio.NewReader(conn)
	if _, err := br.Peek(1); err != nil {
		return 0, err
	}
	ttfb := time.Since(start)
	body, err := io.ReadAll(br)
	if err != nil {
		return 0, err
	}
	if !bytes.Contains(body, []byte(welcome)) {
		return 0, fmt.Errorf("not the welcome page: %.80q", body)
	}
	return ttfb, nil
}

// floodWorker attacks until ctx ends. "intro": a connection on a fresh
// circuit, closed once it is up. "streams": streams on one circuit, each
// with a half-sent request, held until the circuit is closed, then the
// next circuit.
func floodWorker(ctx context.Context, attack, socksAddr, host, id string, tries, oks *atomic.Int64) {
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	circ := 0
	for n := 0; ctx.Err() == nil; n++ {
		user := fmt.Sprintf("%s-%d", id, n)
		if attack == "streams" {
			user = fmt.Sprintf("%s-c%d", id, circ)
		}
		tries.Add(1)
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		conn, err := socks.Dial(dctx, socksAddr, host+":80", &socks.Auth{Username: user, Password: "x"})
		cancel()
		if err != nil {
			if attack == "streams" {
				// The circuit was closed (max-streams) or failed: drop
				// its streams, take another.
				for _, c := range held {
					c.Close()
				}
				held, circ = nil, circ+1
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		oks.Add(1)
		if attack == "intro" {
			conn.Close()
			continue
		}
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\n", host)
		held = append(held, conn)
		if len(held) >= 1000 {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// quantile is the q-quantile of v (nearest rank), 0 for none.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

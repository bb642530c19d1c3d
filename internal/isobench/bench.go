// Package isobench measures what stream isolation costs, on the private
// Tor network only: it replays a page load from N hosts and a chat of a
// few long-lived connections under each isolation policy (none,
// IsolateDestAddr, IsolateDestAddr+IsolateDestPort, and per-site SOCKS
// authentication through the isolation front proxy) and counts, per
// policy, the circuits built, the streams, the time to last byte and the
// relay load (hops of the circuits built), from the client tor's CIRC and
// STREAM events. It answers the open question of the Tails stream
// isolation design with numbers (`tails-server isolation bench`).
//
// Every policy gets a fresh client tor, so that no circuit, guard state or
// port prediction carries over from another policy. Runs within a policy
// are kept apart by SOCKS credentials (every port isolates by SOCKS
// username by default): each run uses a username of its own, or a fresh
// proxy with a fresh key, so it can reuse no circuit of an earlier run but
// can use the clean circuits tor keeps ready, as a browser would. NEWNYM
// would do the same but tor rate-limits it to one per 10 s.
//
// Destinations are names (h3.s1.test, xmpp.jabber.test, ...) that the
// client tor maps to local servers on 127.0.0.1 with MapAddress (the
// private network's exit serves 127.0.0.1 only), so that destination
// isolation and the proxy's per-site keys see distinct hosts and sites.
// No dependency beyond the project's own packages; the chart is SVG
// written by hand.
package isobench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"tails-server/internal/isoproxy"
	"tails-server/internal/socks"
	"tails-server/internal/testnet"
	"tails-server/internal/tor"
)

// Policy is one isolation policy under test.
type Policy struct {
	Name string `json:"name"`
	// Flags are the SocksPort flags of the client tor's port.
	Flags []string `json:"flags"`
	// SiteProxy sends the streams through the isolation front proxy in
	// site mode (one SOCKS username per registrable domain).
	SiteProxy bool `json:"site_proxy"`
}

// Policies are the policies measured, in order.
var Policies = []Policy{
	{Name: "none"},
	{Name: "dest-addr", Flags: []string{"IsolateDestAddr"}},
	{Name: "dest-addr+port", Flags: []string{"IsolateDestAddr", "IsolateDestPort"}},
	{Name: "site-auth", Flags: []string{"IsolateSOCKSAuth", "KeepAliveIsolateSOCKSAuth"}, SiteProxy: true},
}

// Workload is a named sequence of connections.
type Workload struct {
	Name string `json:"name"`
	// Hosts is the page load's number of hosts (0 for chat).
	Hosts int `json:"hosts,omitempty"`
}

// Workloads are the workloads measured, in order.
var Workloads = []Workload{
	{Name: "page-1", Hosts: 1}, {Name: "page-5", Hosts: 5}, {Name: "page-12", Hosts: 12}, {Name: "page-30", Hosts: 30},
	{Name: "chat"},
}

const (
	maxHosts       = 30
	objectsPerHost = 3
	objectSize     = 4 << 10
	chatMessages   = 20
	chatMsgSize    = 64
	settleQuiet    = 1500 * time.Millisecond // no CIRC event for this long: tor is done
	settleMax      = 10 * time.Second
	runTimeout     = 3 * time.Minute
)

// Options configure Run.
type Options struct {
	// Env is the private network. Required.
	Env *testnet.Env
	// Runs per workload and policy; 0 means 3.
	Runs int
	// Policies and Workloads restrict what runs (by name); empty means all.
	Policies, Workloads []string
	// Progress receives one line per step.
	Progress func(string)
}

// Result is what one policy cost on one workload: medians over the runs
// that succeeded.
type Result struct {
	Policy   string  `json:"policy"`
	Workload string  `json:"workload"`
	Runs     int     `json:"runs"`
	Failed   int     `json:"failed"`
	Circuits float64 `json:"circuits"`  // general-purpose circuits built (conflux legs included)
	Streams  float64 `json:"streams"`   // streams opened
	TTLBms   float64 `json:"ttlb_ms"`   // time to last byte
	Hops     float64 `json:"hops"`      // relay load: hops of the circuits built
	Expected int     `json:"isolation"` // isolation groups the workload has under the policy
}

// Report is the whole measurement.
type Report struct {
	Started  time.Time `json:"started"`
	Runs     int       `json:"runs"`
	Conflux  string    `json:"conflux"`
	Results  []Result  `json:"results"`
	Duration string    `json:"duration"`
}

// Run measures every selected policy on every selected workload.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Env == nil {
		return nil, errors.New("isobench: no private network")
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	pols, err := pick(Policies, o.Policies, func(p Policy) string { return p.Name })
	if err != nil {
		return nil, err
	}
	wls, err := pick(Workloads, o.Workloads, func(w Workload) string { return w.Name })
	if err != nil {
		return nil, err
	}
	start := time.Now()
	srv, err := startServers()
	if err != nil {
		return nil, err
	}
	defer srv.close()
	rep := &Report{Started: start, Runs: o.Runs, Conflux: "tor's default (on)"}
	for _, p := range pols {
		res, err := runPolicy(ctx, o, p, wls, srv)
		if err != nil {
			return nil, fmt.Errorf("isobench: policy %s: %w", p.Name, err)
		}
		rep.Results = append(rep.Results, res...)
	}
	rep.Duration = time.Since(start).Round(time.Second).String()
	return rep, nil
}

// UnknownNameError is a policy or workload name Run does not know.
type UnknownNameError struct {
	Name  string
	Known []string
}

func (e *UnknownNameError) Error() string {
	return fmt.Sprintf("unknown name %q: choose among %s", e.Name, strings.Join(e.Known, ", "))
}

func pick[T any](all []T, names []string, name func(T) string) ([]T, error) {
	if len(names) == 0 {
		return all, nil
	}
	var out []T
	for _, n := range names {
		i := slices.IndexFunc(all, func(t T) bool { return name(t) == n })
		if i < 0 {
			var known []string
			for _, t := range all {
				known = append(known, name(t))
			}
			return nil, &UnknownNameError{Name: n, Known: known}
		}
		out = append(out, all[i])
	}
	return out, nil
}

// hostName is the name of page host i: two hosts per site, like a page's
// www and static hosts.
func hostName(i int) string { return fmt.Sprintf("h%d.s%d.test", i, i/2) }

// chatConns are the chat's connections: two to one server on two ports
// (messages and file transfer), one to each of two other servers.
var chatConns = []struct{ name, port string }{
	{"xmpp.jabber.test", "a"}, {"xmpp.jabber.test", "b"}, {"irc.oftc.test", "c"}, {"xmpp.riseup.test", "a"},
}

// expected is the number of isolation groups of a workload under a policy:
// the least number of circuits tor can use.
func expected(p Policy, w Workload) int {
	type k struct{ a, b string }
	set := map[k]bool{}
	add := func(host, port string) {
		switch {
		case p.SiteProxy:
			set[k{isoproxy.Site(host), ""}] = true
		case slices.Contains(p.Flags, "IsolateDestPort"):
			set[k{host, port}] = true
		case slices.Contains(p.Flags, "IsolateDestAddr"):
			set[k{host, ""}] = true
		default:
			set[k{}] = true
		}
	}
	if w.Hosts == 0 {
		for _, c := range chatConns {
			add(c.name, c.port)
		}
	} else {
		for i := 0; i < w.Hosts; i++ {
			add(hostName(i), strconv.Itoa(i))
		}
	}
	return len(set)
}

// servers are the local destinations: an HTTP server per page host and
// echo servers for the chat, all on 127.0.0.1.
type servers struct {
	httpPorts []int
	chatPorts map[string]int
	closers   []io.Closer
}

func startServers() (*servers, error) {
	s := &servers{chatPorts: map[string]int{}}
	body := strings.Repeat("x", objectSize)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
	for i := 0; i < maxHosts; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.close()
			return nil, fmt.Errorf("isobench: %w", err)
		}
		hs := &http.Server{Handler: h, ReadHeaderTimeout: time.Minute}
		go hs.Serve(ln)
		s.closers = append(s.closers, hs)
		s.httpPorts = append(s.httpPorts, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, name := range []string{"a", "b", "c"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.close()
			return nil, fmt.Errorf("isobench: %w", err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { io.Copy(c, c); c.Close() }()
			}
		}()
		s.closers = append(s.closers, ln)
		s.chatPorts[name] = ln.Addr().(*net.TCPAddr).Port
	}
	return s, nil
}

func (s *servers) close() {
	for _, c := range s.closers {
		c.Close()
	}
}

// mapLines are the client tor's MapAddress lines for every destination.
func mapLines() []string {
	var out []string
	for i := 0; i < maxHosts; i++ {
		out = append(out, "MapAddress "+hostName(i)+" 127.0.0.1")
	}
	seen := map[string]bool{}
	for _, c := range chatConns {
		if !seen[c.name] {
			seen[c.name] = true
			out = append(out, "MapAddress "+c.name+" 127.0.0.1")
		}
	}
	return out
}

// runPolicy starts a fresh client tor for p and measures every workload
// o.Runs times, interleaved.
func runPolicy(ctx context.Context, o Options, p Policy, wls []Workload, srv *servers) ([]Result, error) {
	port, err := testnet.FreePort()
	if err != nil {
		return nil, err
	}
	socksAddr := "127.0.0.1:" + strconv.Itoa(port)
	extra := append([]string{strings.TrimSpace("SocksPort " + socksAddr + " ExtendedErrors " + strings.Join(p.Flags, " "))}, mapLines()...)
	o.Progress(fmt.Sprintf("policy %s: starting a client tor (SocksPort %s %s)", p.Name, socksAddr, strings.Join(p.Flags, " ")))
	sctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	t, err := o.Env.StartTor(sctx, torName(p), extra)
	cancel()
	if err != nil {
		return nil, err
	}
	defer t.Stop()
	ev, err := follow(ctx, t)
	if err != nil {
		return nil, err
	}
	defer ev.close()
	// Prove an exit stream, then let tor finish its initial circuits.
	if err := warmUp(ctx, socksAddr, srv); err != nil {
		return nil, err
	}
	ev.settle(ctx)

	type sample struct{ circ, streams, hops, ttlb []float64 }
	samples := make([]sample, len(wls))
	failed := make([]int, len(wls))
	for r := 0; r < o.Runs; r++ {
		for i, w := range wls {
			from := ev.mark()
			start := time.Now()
			err := runWorkload(ctx, p, w, socksAddr, srv, fmt.Sprintf("%s-run%d", w.Name, r))
			ttlb := time.Since(start)
			ev.settle(ctx)
			c, s, h := ev.count(from)
			if err != nil {
				failed[i]++
				o.Progress(fmt.Sprintf("policy %s, %s, run %d: failed: %v", p.Name, w.Name, r+1, err))
				continue
			}
			samples[i].circ = append(samples[i].circ, float64(c))
			samples[i].streams = append(samples[i].streams, float64(s))
			samples[i].hops = append(samples[i].hops, float64(h))
			samples[i].ttlb = append(samples[i].ttlb, float64(ttlb.Microseconds())/1000)
			o.Progress(fmt.Sprintf("policy %s, %s, run %d: %d circuits, %d streams, %d hops, %.0f ms", p.Name, w.Name, r+1, c, s, h, float64(ttlb.Microseconds())/1000))
		}
	}
	var out []Result
	for i, w := range wls {
		out = append(out, Result{
			Policy: p.Name, Workload: w.Name, Runs: len(samples[i].ttlb), Failed: failed[i],
			Circuits: median(samples[i].circ), Streams: median(samples[i].streams),
			TTLBms: median(samples[i].ttlb), Hops: median(samples[i].hops),
			Expected: expected(p, w),
		})
	}
	return out, nil
}

// torName names p's client tor in the network's directory: letters,
// digits and '-' only; the pid keeps two benches on one network apart.
func torName(p Policy) string {
	return fmt.Sprintf("isobench-%s-%d", strings.ReplaceAll(p.Name, "+", "-and-"), os.Getpid())
}

// warmUp retries one fetch until the fresh tor carries exit streams.
func warmUp(ctx context.Context, socksAddr string, srv *servers) error {
	deadline := time.Now().Add(2 * time.Minute)
	var err error
	for time.Now().Before(deadline) {
		dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		var c net.Conn
		c, err = socks.Dial(dctx, socksAddr, "127.0.0.1:"+strconv.Itoa(srv.chatPorts["a"]), &socks.Auth{Username: "warmup", Password: "x"})
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("no exit stream within 2 minutes: %w", err)
}

// dialer returns how a run reaches tor: straight to the SocksPort with
// the run's username, or through a fresh front proxy in site mode.
func dialer(p Policy, socksAddr, runName string) (dial func(ctx context.Context, target string) (net.Conn, error), stop func(), err error) {
	if !p.SiteProxy {
		auth := &socks.Auth{Username: runName, Password: "x"}
		return func(ctx context.Context, target string) (net.Conn, error) {
			return socks.Dial(ctx, socksAddr, target, auth)
		}, func() {}, nil
	}
	px, err := isoproxy.New(isoproxy.Config{Upstream: socksAddr, Mode: isoproxy.ModeSite})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	go px.Serve(ln)
	addr := ln.Addr().String()
	return func(ctx context.Context, target string) (net.Conn, error) {
		return socks.Dial(ctx, addr, target, nil)
	}, func() { px.Close() }, nil
}

// runWorkload plays w once and returns when its last byte arrived.
func runWorkload(ctx context.Context, p Policy, w Workload, socksAddr string, srv *servers, runName string) error {
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	dial, stop, err := dialer(p, socksAddr, runName)
	if err != nil {
		return err
	}
	defer stop()
	if w.Hosts == 0 {
		return chat(ctx, dial, srv)
	}
	return pageLoad(ctx, dial, srv, w.Hosts)
}

// pageLoad fetches the document from host 0, then the other objects from
// every host at once, one keep-alive connection per host.
func pageLoad(ctx context.Context, dial func(context.Context, string) (net.Conn, error), srv *servers, hosts int) error {
	tr := &http.Transport{
		DialContext:        func(ctx context.Context, _, addr string) (net.Conn, error) { return dial(ctx, addr) },
		MaxConnsPerHost:    1,
		DisableCompression: true,
	}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	get := func(host, obj int) error {
		url := fmt.Sprintf("http://%s:%d/obj%d", hostName(host), srv.httpPorts[host], obj)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := cl.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil && n != objectSize {
			err = fmt.Errorf("%s: %d bytes, want %d", url, n, objectSize)
		}
		return err
	}
	if err := get(0, 0); err != nil {
		return err
	}
	errs := make(chan error, hosts)
	for h := 0; h < hosts; h++ {
		go func() {
			first := 0
			if h == 0 {
				first = 1
			}
			for o := first; o < objectsPerHost; o++ {
				if err := get(h, o); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for h := 0; h < hosts; h++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// chat opens the chat's connections at once and exchanges small messages
// on each, one round trip at a time.
func chat(ctx context.Context, dial func(context.Context, string) (net.Conn, error), srv *servers) error {
	errs := make(chan error, len(chatConns))
	for _, cc := range chatConns {
		go func() {
			c, err := dial(ctx, net.JoinHostPort(cc.name, strconv.Itoa(srv.chatPorts[cc.port])))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if dl, ok := ctx.Deadline(); ok {
				c.SetDeadline(dl)
			}
			msg := []byte(strings.Repeat("m", chatMsgSize))
			buf := make([]byte, chatMsgSize)
			for i := 0; i < chatMessages; i++ {
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range chatConns {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// events records a tor's CIRC and STREAM events with their arrival time.
type events struct {
	conn *tor.Conn
	mu   sync.Mutex
	list []stamped
	last time.Time // last CIRC event
	done chan struct{}
}

type stamped struct {
	at time.Time
	ev tor.Event
}

func follow(ctx context.Context, t *testnet.Tor) (*events, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := tor.Dial(dctx, "tcp", t.ControlAddr)
	if err != nil {
		return nil, err
	}
	if err := c.Authenticate(dctx, ""); err != nil {
		c.Close()
		return nil, err
	}
	ch, _, err := c.Subscribe("CIRC", "STREAM")
	if err != nil {
		c.Close()
		return nil, err
	}
	e := &events{conn: c, done: make(chan struct{}), last: time.Now()}
	go func() {
		defer close(e.done)
		for ev := range ch {
			e.mu.Lock()
			e.list = append(e.list, stamped{time.Now(), ev})
			if ev.Type == "CIRC" {
				e.last = time.Now()
			}
			e.mu.Unlock()
		}
	}()
	return e, nil
}

func (e *events) close() { e.conn.Close(); <-e.done }

// mark returns the index of the next event.
func (e *events) mark() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.list)
}

// settle waits until tor has built no circuit for settleQuiet (at most
// settleMax): the circuits a run made tor build, replacements of the
// clean circuits it used included, are then counted.
func (e *events) settle(ctx context.Context) {
	end := time.Now().Add(settleMax)
	for time.Now().Before(end) && ctx.Err() == nil {
		e.mu.Lock()
		quiet := time.Since(e.last)
		e.mu.Unlock()
		if quiet >= settleQuiet {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// count returns, from event index from on, the general-purpose circuits
// built (exit circuits and conflux legs; not one-hop directory tunnels
// or onion-service circuits), the application streams opened (not tor's
// own directory fetches), and the hops of those circuits.
func (e *events) count(from int) (circuits, streams, hops int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.list[from:] {
		if c, ok := tor.ParseCirc(s.ev); ok && c.Status == "BUILT" && generalPurpose(c) {
			circuits++
			hops += len(c.Path)
		}
		if st, ok := tor.ParseStream(s.ev); ok && st.Status == "NEW" && (st.Purpose == "" || st.Purpose == "USER") {
			streams++
		}
	}
	return circuits, streams, hops
}

func generalPurpose(c tor.Circ) bool {
	switch c.Purpose {
	case "GENERAL", "CONFLUX_LINKED", "CONFLUX_UNLINKED":
	default:
		return false
	}
	return !slices.Contains(c.BuildFlags, "ONEHOP_TUNNEL") && !slices.Contains(c.BuildFlags, "IS_INTERNAL")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

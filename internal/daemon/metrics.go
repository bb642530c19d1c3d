package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/fileshare"
	"tails-server/internal/metrics"
	"tails-server/internal/torsup"
)

// Metrics returns the daemon's metrics in the Prometheus text format: its
// own (services by state, self-checks, publications, descriptor uploads,
// restarts of backends and tors, fileshare transfers) and its tors'
// onion-service metrics, labelled by service name; by onion address too
// only with withAddresses.
func (d *daemon) Metrics(ctx context.Context, withAddresses bool) ([]byte, error) {
	list := d.svcs.List()
	onions := map[string]string{}
	byState := map[string]int{}
	reach := metrics.Family{Name: "tails_server_service_reachable", Type: metrics.Gauge,
		Help: "1 when the last self-check of an enabled service passed, else 0."}
	restarts := metrics.Family{Name: "tails_server_backend_restarts_total", Type: metrics.Counter,
		Help: "Restarts of an enabled service's backend by the daemon."}
	repub := metrics.Family{Name: "tails_server_republications_total", Type: metrics.Counter,
		Help: "Re-publications of a service's onion after failed self-checks."}
	transfers := metrics.Family{Name: "tails_server_fileshare_transfers_total", Type: metrics.Counter,
		Help: "Finished transfers of a fileshare service since the daemon started, by kind and completion."}
	for _, s := range list {
		byState[s.State]++
		if a := strings.TrimSuffix(s.OnionAddress, ".onion"); a != "" {
			onions[a] = s.Name
		}
		if !s.Enabled {
			continue
		}
		svc := []metrics.Label{{Name: "service", Value: s.Name}}
		reach.Samples = append(reach.Samples, metrics.Sample{Labels: svc, Value: b2f(s.Reachable)})
		if info, err := d.svcs.Info(s.Name, true, false); err == nil && info.Details != nil {
			repub.Samples = append(repub.Samples, metrics.Sample{Labels: svc, Value: float64(info.Details.Republished)})
			if b := info.Details.Backend; b != nil { // a process of its own, not a built-in
				restarts.Samples = append(restarts.Samples, metrics.Sample{Labels: svc, Value: float64(b.Restarts)})
			}
		}
		if tot := d.svcs.TransferTotals(s.Name); tot != nil {
			for _, kind := range []string{fileshare.KindDownload, fileshare.KindUpload} {
				for _, complete := range []bool{true, false} {
					transfers.Samples = append(transfers.Samples, metrics.Sample{Value: float64(tot[fileshare.TotalKey{Kind: kind, Complete: complete}]),
						Labels: []metrics.Label{svc[0], {Name: "kind", Value: kind}, {Name: "complete", Value: strconv.FormatBool(complete)}}})
				}
			}
		}
	}
	states := metrics.Family{Name: "tails_server_services", Type: metrics.Gauge, Help: "Services of the catalog, by state."}
	for _, st := range sortedStates(byState) {
		states.Samples = append(states.Samples, metrics.Sample{Labels: []metrics.Label{{Name: "state", Value: st}}, Value: float64(byState[st])})
	}
	torRestarts := metrics.Family{Name: "tails_server_tor_restarts_total", Type: metrics.Counter,
		Help: "Restarts of one of the daemon's own tors (tor 0 is the first; the checker is tor=\"checker\")."}
	torUp := metrics.Family{Name: "tails_server_tor_ready", Type: metrics.Gauge, Help: "1 while a tor of the daemon is bootstrapped and connected."}
	tors := d.tors.All()
	names := make([]string, len(tors))
	for i := range tors {
		names[i] = strconv.Itoa(i)
	}
	if c := d.tors.Checker(); c != nil {
		tors, names = append(tors, c), append(names, "checker")
	}
	for i, t := range tors {
		st := t.Status()
		l := []metrics.Label{{Name: "tor", Value: names[i]}}
		torRestarts.Samples = append(torRestarts.Samples, metrics.Sample{Labels: l, Value: float64(st.Restarts)})
		torUp.Samples = append(torUp.Samples, metrics.Sample{Labels: l, Value: b2f(st.State == "ready")})
	}
	fams := append([]metrics.Family{states, reach, restarts, repub, transfers, torRestarts, torUp}, d.metrics.Families()...)
	fams = append(fams, torMetrics(ctx, tors, onions, withAddresses)...)
	var b bytes.Buffer
	if err := metrics.Write(&b, fams); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// torMetrics reads the MetricsPort of each tor at once (bounded to 5 s),
// relabelled; a tor that does not answer is left out.
func torMetrics(ctx context.Context, tors []*torsup.Supervisor, onions map[string]string, withAddresses bool) []metrics.Family {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out := make([][]metrics.Family, len(tors))
	var wg sync.WaitGroup
	for i, t := range tors {
		addr := t.MetricsAddr()
		if addr == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fams, err := fetchTorMetrics(ctx, addr)
			if err == nil {
				out[i] = metrics.Relabel(fams, onions, withAddresses)
			}
		}()
	}
	wg.Wait()
	var all []metrics.Family
	for _, f := range out {
		all = append(all, f...)
	}
	return all
}

var torMetricsClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

func fetchTorMetrics(ctx context.Context, addr string) ([]metrics.Family, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := torMetricsClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("tor's metrics port answered %s", resp.Status)
	}
	return metrics.ParseTor(resp.Body)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// sortedStates lists the states in the order a service goes through
// them, any other after.
func sortedStates(m map[string]int) []string {
	order := []string{apitype.StateDisabled, apitype.StateScheduled, apitype.StateStarting, apitype.StateAddressed,
		apitype.StatePublished, apitype.StateReachable, apitype.StateFailing, apitype.StateFailed}
	var out []string
	for _, s := range order {
		if _, ok := m[s]; ok {
			out = append(out, s)
		}
	}
	var more []string
	for s := range m {
		if !slices.Contains(order, s) {
			more = append(more, s)
		}
	}
	slices.Sort(more)
	return append(out, more...)
}

// serveMetrics serves GET /metrics on addr (--metrics-listen) until ctx
// ends: the same text as the API's, never with onion addresses.
func (d *daemon) serveMetrics(ctx context.Context, addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		b, err := d.Metrics(r.Context(), false)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", metrics.ContentType)
		w.Write(b)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	return ln.Addr(), nil
}

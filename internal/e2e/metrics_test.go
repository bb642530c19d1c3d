package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"tails-server/internal/freeport"
)

// parseMetrics parses the Prometheus text with the parser Prometheus uses.
func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("metrics do not parse: %v\n%s", err, text)
	}
	return fams
}

// seriesOf returns the values of family name whose labels include want.
func seriesOf(fams map[string]*dto.MetricFamily, name string, want map[string]string) []float64 {
	var out []float64
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			out = append(out, m.Counter.GetValue())
		case m.Gauge != nil:
			out = append(out, m.Gauge.GetValue())
		case m.Histogram != nil:
			out = append(out, float64(m.Histogram.GetSampleCount()))
		case m.Untyped != nil:
			out = append(out, m.Untyped.GetValue())
		}
	}
	return out
}

// TestMetrics enables web and fileshare and reads `tails-server metrics`
// and the --metrics-listen port: both parse as Prometheus text, carry a
// series per enabled service (reachable, self-checks, publications), and
// the daemon's tor's onion-service series labelled by service name, with
// no onion address unless --with-addresses.
func TestMetrics(t *testing.T) {
	requireNet(t)
	tmp := t.TempDir()
	ports, err := freeport.Pick(1)
	if err != nil {
		t.Fatal(err)
	}
	listen := "127.0.0.1:" + strconv.Itoa(ports[0])
	d := startDaemon(t, filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock"), "--metrics-listen", listen)
	start := time.Now()
	for _, svc := range []string{"web", "fileshare"} {
		if out := d.mustCLI("enable", svc, "--wait", "150s"); !strings.Contains(out, "reachable: true") {
			t.Fatalf("enable %s:\n%s", svc, out)
		}
	}
	t.Logf("web and fileshare reachable in %.1f s", time.Since(start).Seconds())
	addrs := map[string]string{}
	for _, svc := range []string{"web", "fileshare"} {
		addrs[svc] = strings.TrimSuffix(d.service(svc).OnionAddress, ".onion")
	}

	// A visitor downloads a file from fileshare through an independent
	// client tor: the transfer is counted.
	file := filepath.Join(tmp, "menu.txt")
	if err := os.WriteFile(file, []byte("soup\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.mustCLI("files", "add", "fileshare", file)
	d.mustCLI("client", "add", "fileshare", "ann")
	cred := strings.TrimSpace(d.mustCLI("client", "show", "fileshare", "ann", "--format", "auth-private"))
	ann := newOnionClient(t, "metrics-ann", cred)
	waitFor(t, 120*time.Second, "a download of menu.txt through the onion", func() error {
		res, err := ann.curlRaw("http://" + addrs["fileshare"] + ".onion/files/menu.txt")
		if err != nil {
			return err
		}
		if res.code != 200 || string(res.body) != "soup\n" {
			return fmt.Errorf("HTTP %d: %.100q", res.code, res.body)
		}
		return nil
	})

	// Tor's onion-service series come once tor counted something for
	// each service (its introduction points, its uploads).
	var text string
	var fams map[string]*dto.MetricFamily
	waitFor(t, 90*time.Second, "tor's onion-service series for web and fileshare", func() error {
		text = d.mustCLI("metrics")
		fams = parseMetrics(t, text)
		for _, svc := range []string{"web", "fileshare"} {
			n := 0
			for name := range fams {
				if strings.HasPrefix(name, "tor_hs_") && len(seriesOf(fams, name, map[string]string{"service": svc})) > 0 {
					n++
				}
			}
			if n == 0 {
				return fmt.Errorf("no tor_hs_ series labelled service=%q", svc)
			}
		}
		return nil
	})
	for svc, addr := range addrs {
		if strings.Contains(text, addr) {
			t.Fatalf("metrics without --with-addresses name the onion of %s", svc)
		}
		want := map[string]string{"service": svc}
		if v := seriesOf(fams, "tails_server_service_reachable", want); len(v) != 1 || v[0] != 1 {
			t.Errorf("tails_server_service_reachable{service=%q} = %v, want [1]", svc, v)
		}
		if v := seriesOf(fams, "tails_server_selfcheck_duration_seconds", want); len(v) != 1 || v[0] < 1 {
			t.Errorf("self-check histogram of %s counts %v, want at least 1", svc, v)
		}
		if v := seriesOf(fams, "tails_server_publications_total", map[string]string{"service": svc, "result": "ok"}); len(v) != 1 || v[0] < 1 {
			t.Errorf("publications of %s: %v, want at least 1", svc, v)
		}
		if v := seriesOf(fams, "tails_server_descriptor_uploads_total", map[string]string{"service": svc, "result": "ok"}); len(v) != 1 || v[0] < 1 {
			t.Errorf("descriptor uploads of %s: %v, want at least 1", svc, v)
		}
		// Both are built-in backends, in the daemon: no process to restart.
		if v := seriesOf(fams, "tails_server_republications_total", want); len(v) != 1 {
			t.Errorf("re-publications of %s: %v, want one series", svc, v)
		}
	}
	if v := seriesOf(fams, "tails_server_fileshare_transfers_total", map[string]string{"service": "fileshare", "kind": "download", "complete": "true"}); len(v) != 1 || v[0] < 1 {
		t.Errorf("complete fileshare downloads: %v, want at least 1", v)
	}
	if v := seriesOf(fams, "tails_server_fileshare_transfers_total", map[string]string{"service": "fileshare", "kind": "upload"}); len(v) != 2 {
		t.Errorf("fileshare upload counts: %v, want complete and incomplete series", v)
	}
	// Tor counted the bytes the visitor's download wrote to fileshare's
	// stream, under fileshare's name.
	var wrote float64
	for _, v := range seriesOf(fams, "tor_hs_app_write_bytes_total", map[string]string{"service": "fileshare"}) {
		wrote += v
	}
	if wrote < 5 {
		t.Errorf("tor_hs_app_write_bytes_total{service=\"fileshare\"} = %v, want the download's bytes", wrote)
	}
	if v := seriesOf(fams, "tails_server_services", map[string]string{"state": "reachable"}); len(v) != 1 || v[0] != 2 {
		t.Errorf("services reachable: %v, want at least 2", v)
	}
	var torNames []string
	for name := range fams {
		if strings.HasPrefix(name, "tor_hs_") {
			torNames = append(torNames, name)
		}
	}
	t.Logf("tor's onion-service families: %s", strings.Join(torNames, " "))
	for _, name := range []string{"tor_hs_pow_suggested_effort", "tor_hs_intro_rejected_intro_req_count"} {
		if f := fams[name]; f == nil {
			t.Errorf("no %s from tor", name)
		}
	}
	t.Logf("tor_hs_pow_suggested_effort: %v", seriesOf(fams, "tor_hs_pow_suggested_effort", nil))

	// --with-addresses adds the onion label.
	with := d.mustCLI("metrics", "--with-addresses")
	parseMetrics(t, with)
	if !strings.Contains(with, `onion="`+addrs["web"]+`"`) {
		t.Errorf("metrics --with-addresses lack web's onion label")
	}

	// The same text for Prometheus on the TCP port, never with addresses.
	resp, err := http.Get("http://" + listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics on %s: %s %q", listen, resp.Status, resp.Header.Get("Content-Type"))
	}
	tf := parseMetrics(t, string(body))
	if len(seriesOf(tf, "tails_server_service_reachable", map[string]string{"service": "web"})) != 1 || bytes.Contains(body, []byte(addrs["web"])) {
		t.Errorf("the metrics port's text lacks web or names its onion:\n%s", body)
	}
}

// TestMetricsListenRefused: a metrics address that is not local, without
// --metrics-allow-remote, is refused in one line before anything starts.
func TestMetricsListenRefused(t *testing.T) {
	tmp := t.TempDir()
	state := filepath.Join(tmp, "state")
	for _, addr := range []string{"0.0.0.0:9100", ":9100", "192.0.2.1:9100", "[::]:9100"} {
		_, stderr, code := cli(t, nil, "daemon", "--state", state, "--network", "testnet", "--testnet-dir", tmp, "--metrics-listen", addr)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != 2 || !strings.Contains(lines[0], "is not a loopback address") || !strings.Contains(lines[0], "--metrics-allow-remote") {
			t.Errorf("--metrics-listen %s: exit %d, stderr:\n%s", addr, code, stderr)
		}
	}
	if _, err := filepath.Glob(state); err != nil {
		t.Fatal(err)
	}
}

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
	"tails-server/internal/onionkey"
	"tails-server/internal/socks"
	"tails-server/internal/testenv"
)

// BenchmarkEnable_wiki measures the seconds from `enable wiki` to the
// first page DokuWiki renders through the onion (doku.php, through
// php-cgi).
func BenchmarkEnable_wiki(b *testing.B) {
	benchEnable(b, "wiki", "php-cgi", func(c net.Conn, svc apitype.Service, _ string) error {
		resp, body, err := nginxGet(c, svc.OnionAddress, "/doku.php")
		if err == nil && (resp.StatusCode >= 500 || !strings.Contains(body, `content="DokuWiki"`)) {
			err = fmt.Errorf("status %d, not a DokuWiki page", resp.StatusCode)
		}
		return err
	}, "")
}

// wikiViewRounds is how many times, per iteration, each of the two
// requests is timed; the order alternates.
const wikiViewRounds = 20

// BenchmarkWikiPageView times a wiki page view (doku.php?id=bench: PHP,
// DokuWiki's ACL, its render cache) against a static file of about the
// same size (lib/scripts/edit.js, 8.7 KB) from the same lighttpd, through
// the onion, one client tor, one kept-alive connection, alternating, and
// reports each median and their ratio: PHP's own cost.
//
//	go test -run '^$' -bench BenchmarkWikiPageView -benchtime 1x ./internal/e2e
func BenchmarkWikiPageView(b *testing.B) {
	if tnet == nil {
		b.Fatal("no private network: run `make bench`")
	}
	testenv.RequireProgram(b, "php-cgi")
	d := benchDaemonWith(b)
	c := client.New(d.socket)
	ctx := context.Background()
	if _, err := c.SetOption(ctx, "wiki", "public-read", "true"); err != nil {
		b.Fatal(err)
	}
	cl, err := c.AddClient(ctx, "wiki", "bench")
	if err != nil {
		b.Fatal(err)
	}
	addr, key, err := onionkey.ParseAuthPrivateLine(cl.Credential)
	if err != nil {
		b.Fatal(err)
	}
	s, err := c.Enable(ctx, "wiki", 4*time.Minute)
	if err != nil || !s.Reachable {
		b.Fatalf("enable wiki: %v (%s %s)", err, s.State, s.Error)
	}
	info, err := c.Info(ctx, "wiki", true)
	if err != nil {
		b.Fatal(err)
	}
	page := filepath.Join(info.Details.DataDir, "data", "data", "pages", "bench.txt")
	text := "====== Bench ======\n" + strings.Repeat("A paragraph of **the wiki** with a [[start|link]].\n\n", 40)
	if err := os.WriteFile(page, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command("chown", "tails-server-wiki:", page).CombinedOutput(); err != nil {
		b.Fatalf("chown: %v %s", err, out)
	}
	tr := independentClient(b, "wiki-bench", addr, key)
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, target string) (net.Conn, error) {
			return socks.Dial(ctx, tr.SocksAddr, target, nil)
		},
		MaxIdleConnsPerHost: 1,
	}}
	base := "http://" + addr + ".onion"
	local := &http.Client{Timeout: 30 * time.Second}
	localBase := "http://" + info.Details.LocalAddress
	get := func(path, want string) (time.Duration, int) {
		return timedGet(b, hc, base+path, want)
	}
	getLocal := func(path, want string) (time.Duration, int) {
		return timedGet(b, local, localBase+path, want)
	}
	times := map[string][]float64{}
	sizes := map[string]int{}
	paths := map[string][2]string{
		"page":   {"/doku.php?id=bench", "A paragraph of <strong>the wiki</strong>"},
		"static": {"/lib/scripts/edit.js", "function"},
	}
	// The onion's first circuit, and DokuWiki's render cache.
	limit := time.Now().Add(3 * time.Minute)
	for {
		resp, err := hc.Get(base + "/lib/scripts/edit.js")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(limit) {
			b.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	get(paths["page"][0], paths["page"][1])
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < wikiViewRounds; r++ {
			order := []string{"page", "static"}
			if r%2 == 1 {
				order = []string{"static", "page"}
			}
			for _, k := range order {
				d, n := get(paths[k][0], paths[k][1])
				times[k] = append(times[k], d.Seconds()*1000)
				sizes[k] = n
				d, _ = getLocal(paths[k][0], paths[k][1])
				times["local "+k] = append(times["local "+k], d.Seconds()*1000)
			}
		}
	}
	b.StopTimer()
	pageMS, staticMS := median(times["page"]), median(times["static"])
	localPage, localStatic := median(times["local page"]), median(times["local static"])
	b.ReportMetric(pageMS, "page-ms")
	b.ReportMetric(staticMS, "static-ms")
	b.ReportMetric(pageMS/staticMS, "ratio")
	b.ReportMetric(localPage, "local-page-ms")
	b.ReportMetric(localStatic, "local-static-ms")
	b.Logf("through the onion: wiki page %d bytes median %.1f ms, static file %d bytes median %.1f ms, ratio %.2f; "+
		"on loopback: %.2f vs %.2f ms (%d each)",
		sizes["page"], pageMS, sizes["static"], staticMS, pageMS/staticMS, localPage, localStatic, len(times["page"]))
}

// timedGet fetches url with hc and checks it answers 200 with want in
// its body; it returns the time taken and the body's size.
func timedGet(b *testing.B, hc *http.Client, url, want string) (time.Duration, int) {
	start := time.Now()
	resp, err := hc.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !strings.Contains(string(body), want) {
		b.Fatalf("GET %s: status %d, %v, %.200q", url, resp.StatusCode, err, body)
	}
	return time.Since(start), len(body)
}

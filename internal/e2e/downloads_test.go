package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
)

// TestFileshareDownloads: the host shares a file with `files add`, an
// independent client tor downloads it through the onion byte-identical,
// and `files list` counts one download, `status` shows the complete
// transfer with its bytes (as does the transfers endpoint, with nothing
// under way). With max-downloads 1, the next download arrives whole
// through the onion (the onion waits for it), then the service is
// disabled, the onion withdrawn and status says why; the counts stay,
// across a restart of the daemon too.
func TestFileshareDownloads(t *testing.T) {
	requireNet(t)
	began := time.Now()
	tmp := t.TempDir()
	state, socket := filepath.Join(tmp, "state"), filepath.Join(tmp, "api.sock")
	d := startDaemon(t, state, socket)
	if out := d.mustCLI("enable", "fileshare", "--wait", "150s"); !strings.Contains(out, "reachable: true") {
		t.Fatalf("enable fileshare:\n%s", out)
	}
	addr := d.service("fileshare").OnionAddress
	d.mustCLI("client", "add", "fileshare", "ann")
	ann := newOnionClient(t, "ann", strings.TrimSpace(d.mustCLI("client", "show", "fileshare", "ann", "--format", "auth-private")))

	report := make([]byte, 3<<20+77)
	rand.Read(report)
	p := filepath.Join(tmp, "report.pdf")
	if err := os.WriteFile(p, report, 0o644); err != nil {
		t.Fatal(err)
	}
	d.mustCLI("files", "add", "fileshare", p)
	url := "http://" + addr + "/files/report.pdf"
	download := func(t *testing.T, what string) {
		t.Helper()
		waitFor(t, 120*time.Second, what, func() error {
			res, err := ann.curlRaw(url)
			if err != nil {
				return err
			}
			if res.code != 200 {
				return fmt.Errorf("HTTP %d: %.200s", res.code, res.body)
			}
			if !bytes.Equal(res.body, report) {
				return fmt.Errorf("got %d bytes, not the %d shared", len(res.body), len(report))
			}
			return nil
		})
	}
	downloads := func(t *testing.T) int64 {
		t.Helper()
		var l apitype.FileList
		if err := json.Unmarshal([]byte(d.mustCLI("-o", "json", "files", "list", "fileshare")), &l); err != nil {
			t.Fatal(err)
		}
		if len(l.Files) != 1 || l.Files[0].Name != "report.pdf" || l.Files[0].Downloads == nil {
			t.Fatalf("files list: %+v", l)
		}
		return *l.Files[0].Downloads
	}
	type status struct {
		State     string             `json:"state"`
		Error     string             `json:"error"`
		Options   map[string]string  `json:"options"`
		Transfers []apitype.Transfer `json:"transfers"`
	}
	statusOf := func(t *testing.T) status {
		t.Helper()
		var s status
		if err := json.Unmarshal([]byte(d.mustCLI("-o", "json", "status", "fileshare")), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	complete := func(tr apitype.Transfer) bool {
		return tr.Kind == apitype.TransferDownload && tr.Name == "report.pdf" && tr.Complete &&
			tr.Bytes == int64(len(report)) && tr.Size != nil && *tr.Size == int64(len(report)) && tr.End != nil
	}

	t.Run("one download counted and in the history", func(t *testing.T) {
		download(t, "report.pdf through the onion")
		if n := downloads(t); n != 1 {
			t.Fatalf("files list shows %d downloads, want 1", n)
		}
		var s status
		waitFor(t, 10*time.Second, "the transfer in status", func() error {
			if s = statusOf(t); len(s.Transfers) == 0 || !complete(s.Transfers[0]) {
				return fmt.Errorf("transfers %+v", s.Transfers)
			}
			return nil
		})
		tr, err := client.New(d.socket).Transfers(context.Background(), "fileshare")
		if err != nil || len(tr.InProgress) != 0 || len(tr.History) == 0 || !complete(tr.History[0]) {
			t.Fatalf("transfers endpoint: %+v %v", tr, err)
		}
		t.Logf("status: %d transfers, the newest %d bytes in %v", len(s.Transfers), s.Transfers[0].Bytes, s.Transfers[0].End.Sub(s.Transfers[0].Start))
	})

	t.Run("max-downloads 1: the download arrives whole, then the onion goes", func(t *testing.T) {
		d := d.in(t)
		phase := time.Now()
		took := func(what string) {
			t.Logf("%s: %v", what, time.Since(phase).Round(100*time.Millisecond))
			phase = time.Now()
		}
		d.mustCLI("set-option", "fileshare", "max-downloads", "1")
		waitFor(t, 120*time.Second, "reachable with max-downloads", func() error {
			if s := d.service("fileshare"); !s.Reachable {
				return fmt.Errorf("state %s: %s", s.State, s.Error)
			}
			return nil
		})
		took("reachable again after set-option")
		if s := statusOf(t); s.Options["max-downloads"] != "1" {
			t.Fatalf("status options: %v", s.Options)
		}
		// The onion answers (the page is no download); then one attempt,
		// not retried: the download that ends the share must arrive whole.
		waitFor(t, 60*time.Second, "the page with max-downloads", func() error {
			res, err := ann.curlRaw("http://" + addr + "/")
			if err == nil && res.code != 200 {
				err = fmt.Errorf("HTTP %d", res.code)
			}
			return err
		})
		res, err := ann.curlRaw(url)
		if err != nil || res.code != 200 || !bytes.Equal(res.body, report) {
			t.Fatalf("the last allowed download: HTTP %d, %d bytes of %d, %v", res.code, len(res.body), len(report), err)
		}
		took("the last download, whole")
		waitFor(t, 45*time.Second, "disabled by max-downloads", func() error {
			if s := d.service("fileshare"); s.Enabled || s.State != apitype.StateDisabled {
				return fmt.Errorf("enabled %v, state %s", s.Enabled, s.State)
			}
			return nil
		})
		s := statusOf(t)
		if !strings.Contains(s.Error, "stopped by max-downloads after the first complete download") {
			t.Fatalf("status does not say why: %q", s.Error)
		}
		if len(s.Transfers) == 0 || !complete(s.Transfers[0]) {
			t.Fatalf("the stopped share's history: %+v", s.Transfers)
		}
		for _, line := range strings.Split(d.log.String(), "\n") {
			if strings.Contains(line, "share ended after its last allowed download") {
				t.Logf("daemon: %s", line)
			}
		}
		if !strings.Contains(d.log.String(), "drained=true") {
			t.Errorf("the onion went before the last download's connection closed:\n%s", d.log)
		}
		if n := downloads(t); n != 2 {
			t.Fatalf("files list of the stopped share shows %d downloads, want 2", n)
		}
		took("disabled, status says why")
		// Each attempt bounded: a connection to a withdrawn onion may
		// take long to fail.
		waitFor(t, 60*time.Second, "the onion stops answering", func() error {
			if code, err := ann.socksCodeUntil(addr+":80", time.Now().Add(20*time.Second)); err == nil && code == 0 {
				return fmt.Errorf("still connects")
			}
			return nil
		})
		took("the onion gone")
	})
	t.Run("the counts survive a restart of the daemon", func(t *testing.T) {
		d.stop()
		d = startDaemon(t, state, socket)
		if n := downloads(t); n != 2 {
			t.Fatalf("after a restart, files list shows %d downloads, want 2", n)
		}
	})
	t.Logf("TestFileshareDownloads took %v", time.Since(began).Round(time.Second))
}

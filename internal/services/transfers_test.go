package services

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tails-server/internal/apitype"
)

// TestFileshareCountsAndHistory: the built-in fileshare backend counts
// downloads for `files list` (kept 0600 in the data folder, outside the
// shared one, across a restart of the backend), and its transfer history
// shows in info and the transfers endpoint, newest first, across the
// restart too; max-downloads gives the reason status shows.
func TestFileshareCountsAndHistory(t *testing.T) {
	m := newTestManager(t)
	s, _ := m.get("fileshare")
	_, data := dirs(m.store, "fileshare")
	values := map[string]string{optFileshareMode: "share", optFileshareShared: "share", optFileshareReceived: "received", optFileshareMaxDl: "3"}
	if err := os.MkdirAll(filepath.Join(data, "share"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(data, "share", "report.pdf"), []byte("%PDF-1.7 report"), 0o644)
	run := func() *builtinFileshare {
		t.Helper()
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		b, err := startFileshare(data, "127.0.0.1", port, values)
		if err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		s.backend = b
		m.hookBackend(s, b)
		s.mu.Unlock()
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/files/report.pdf")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return b.(*builtinFileshare)
	}
	b := run()
	if !strings.Contains(b.why, "max-downloads after 3 complete downloads") {
		t.Errorf("reason: %q", b.why)
	}
	b.Close()
	b = run()
	defer b.Close()
	if _, ok := Backend(b).(downloadCounter); !ok {
		t.Fatal("the fileshare backend counts no downloads")
	}
	waitUntil(t, "two transfers", func() bool { tr, _ := m.Transfers("fileshare"); return len(tr.History) == 2 })
	l, err := m.ListFiles("fileshare", "", false)
	if err != nil || len(l.Files) != 1 || l.Files[0].Downloads == nil || *l.Files[0].Downloads != 2 {
		t.Fatalf("files list: %+v %v", l, err)
	}
	fi, err := os.Stat(filepath.Join(data, countsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("counts file: %v %v", fi, err)
	}
	info, _ := m.Info("fileshare", false, false)
	if len(info.Transfers) != 2 || !info.Transfers[0].Start.After(info.Transfers[1].Start) && info.Transfers[0].Start != info.Transfers[1].Start {
		t.Fatalf("info transfers: %+v", info.Transfers)
	}
	for _, tr := range info.Transfers {
		if tr.Kind != apitype.TransferDownload || tr.Name != "report.pdf" || !tr.Complete || tr.Bytes != 15 || tr.Size == nil || *tr.Size != 15 || tr.End == nil {
			t.Errorf("transfer %+v", tr)
		}
	}
	// Stopped, its counts still show, and its history stays.
	b.Close()
	s.mu.Lock()
	s.backend = nil
	s.mu.Unlock()
	if l, err := m.ListFiles("fileshare", "", false); err != nil || len(l.Files) != 1 || l.Files[0].Downloads == nil || *l.Files[0].Downloads != 2 {
		t.Fatalf("files list of the stopped share: %+v %v", l, err)
	}
	if tr, _ := m.Transfers("fileshare"); len(tr.History) != 2 || len(tr.InProgress) != 0 {
		t.Fatalf("transfers of the stopped share: %+v", tr)
	}
	if _, err := m.Transfers("web"); err == nil || !strings.Contains(err.Error(), "web records no transfers") {
		t.Errorf("transfers of web: %v", err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

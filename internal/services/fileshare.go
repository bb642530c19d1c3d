package services

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"

	"tails-server/internal/catalog"
	"tails-server/internal/fileshare"
)

// The fileshare service's own options (services/fileshare.yaml).
const (
	optFileshareMode      = "mode"
	optFileshareShared    = "shared-dir"
	optFileshareReceived  = "received-dir"
	optFileshareMaxUpload = "max-upload-mib"
	optFileshareAutoStop  = "auto-stop"
	optFileshareQuota     = "max-received-mib"
	optFileshareMaxDl     = "max-downloads"
	optFileTimes          = "file-times" // fileshare and web
)

// autoStoppedMsg is what status says after auto-stop disabled the service.
const autoStoppedMsg = "stopped by auto-stop after the first complete download; enable it again to share again"

// maxDownloadsMsg is what status says after max-downloads did.
const maxDownloadsMsg = "stopped by max-downloads after %d complete downloads; enable it again to share again"

// countsFile is where, in the service's data folder (outside its shared
// folder, whose option values cannot start with a dot), the backend keeps
// the download counts of the shared files: they persist when the service
// does, and vanish with an amnesic one.
const countsFile = ".fileshare-downloads.json"

// builtinFileshare is the built-in fileshare backend: package fileshare
// inside the daemon.
type builtinFileshare struct {
	*fileshare.Server
	builtin

	mu     sync.Mutex
	onStop func() // set by the manager once the backend is its own
	fired  bool   // auto-stop happened before onStop was set
	// why is what status says once the share ended (auto-stop or
	// max-downloads).
	why string
}

// autoStopped is fileshare's OnAutoStop: it calls the manager's hook, now
// or as soon as there is one.
func (b *builtinFileshare) autoStopped() {
	b.mu.Lock()
	f := b.onStop
	b.fired = f == nil
	b.mu.Unlock()
	if f != nil {
		f()
	}
}

// setAutoStop gives the backend the manager's hook.
func (b *builtinFileshare) setAutoStop(f func()) {
	b.mu.Lock()
	b.onStop = f
	fired := b.fired
	b.mu.Unlock()
	if fired {
		go f()
	}
}

// startFileshare starts the fileshare backend on listen:port with the
// service's option values; its folders are inside dataDir.
func startFileshare(dataDir, listen string, port int, values map[string]string) (Backend, error) {
	mib, err := strconv.ParseInt(values[optFileshareMaxUpload], 10, 64)
	if err != nil || mib <= 0 {
		mib = 1024
	}
	quota, err := strconv.ParseInt(values[optFileshareQuota], 10, 64)
	if err != nil || quota <= 0 {
		quota = 4096
	}
	maxDl, err := strconv.Atoi(values[optFileshareMaxDl])
	if err != nil || maxDl < 0 {
		maxDl = 0
	}
	b := &builtinFileshare{builtin: builtin{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}, why: autoStoppedMsg}
	autoStop := values[optFileshareAutoStop] == "true"
	if !autoStop && maxDl > 0 {
		b.why = fmt.Sprintf(maxDownloadsMsg, maxDl)
		if maxDl == 1 {
			b.why = "stopped by max-downloads after the first complete download; enable it again to share again"
		}
	}
	srv, err := fileshare.Start(fileshare.Config{
		Mode:         values[optFileshareMode],
		SharedDir:    filepath.Join(dataDir, filepath.FromSlash(values[optFileshareShared])),
		ReceivedDir:  filepath.Join(dataDir, filepath.FromSlash(values[optFileshareReceived])),
		Messages:     values[optFileshareMessages] == "on",
		MessagesDir:  messagesDir(dataDir),
		MaxUpload:    mib << 20,
		MaxReceived:  quota << 20,
		FileTimes:    values[optFileTimes] == "true",
		AutoStop:     autoStop,
		OnAutoStop:   b.autoStopped,
		MaxDownloads: maxDl,
		CountsFile:   filepath.Join(dataDir, countsFile),
	}, net.JoinHostPort(listen, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	b.Server = srv
	return b, nil
}

// downloadCounts returns the download counts of an offered folder's
// files: its backend's, or for a built-in fileshare that is not running,
// those it kept; nil when the service counts none.
func downloadCounts(f *folderRef) map[string]int64 {
	f.s.mu.Lock()
	dc, ok := f.s.backend.(downloadCounter)
	f.s.mu.Unlock()
	var counts map[string]int64
	switch {
	case ok:
		counts = dc.Downloads()
	case f.s.def.Backend.Builtin == catalog.BuiltinFileshare:
		counts = fileshare.ReadDownloads(filepath.Join(f.data, countsFile), f.abs())
	default:
		return nil
	}
	if counts == nil {
		counts = map[string]int64{}
	}
	return counts
}

// hookBackend connects a started backend to the manager: fileshare's
// auto-stop disables the service, and its transfer history goes on from
// the previous backend's. Call with s.mu held.
func (m *Manager) hookBackend(s *service, b Backend) {
	if fb, ok := b.(*builtinFileshare); ok {
		s.transfers = fb.History().Continue(s.transfers)
		fb.setAutoStop(func() { m.autoStop(s, fb) })
	}
}

// autoStop disables a fileshare service whose share ended after its first
// download (withdrawing the onion), and says why in its status.
func (m *Manager) autoStop(s *service, b *builtinFileshare) {
	s.mu.Lock()
	current := s.backend == Backend(b)
	s.mu.Unlock()
	if !current {
		return
	}
	args := []any{"service", s.def.Name, "downloads", b.ShareDownloads()}
	if dr := b.Drained(); dr != nil {
		// Whether the last download's connection closed before the onion
		// goes, or the drain timeout ran out.
		args = append(args, "drained", dr.Closed, "drain_ms", dr.Took.Milliseconds())
	}
	m.log.Info("share ended after its last allowed download", args...)
	if _, err := m.disable(context.Background(), s.def.Name, b.why); err != nil {
		m.log.Warn("auto-stop: disabling", "service", s.def.Name, "err", err)
	}
}

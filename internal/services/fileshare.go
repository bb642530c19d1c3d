package services

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"sync"

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
	optFileTimes          = "file-times" // fileshare and web
)

// autoStoppedMsg is what status says after auto-stop disabled the service.
const autoStoppedMsg = "stopped by auto-stop after the first complete download; enable it again to share again"

// builtinFileshare is the built-in fileshare backend: package fileshare
// inside the daemon.
type builtinFileshare struct {
	*fileshare.Server
	builtin

	mu     sync.Mutex
	onStop func() // set by the manager once the backend is its own
	fired  bool   // auto-stop happened before onStop was set
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
	b := &builtinFileshare{builtin: builtin{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}}
	srv, err := fileshare.Start(fileshare.Config{
		Mode:        values[optFileshareMode],
		SharedDir:   filepath.Join(dataDir, filepath.FromSlash(values[optFileshareShared])),
		ReceivedDir: filepath.Join(dataDir, filepath.FromSlash(values[optFileshareReceived])),
		Messages:    values[optFileshareMessages] == "on",
		MessagesDir: messagesDir(dataDir),
		MaxUpload:   mib << 20,
		MaxReceived: quota << 20,
		FileTimes:   values[optFileTimes] == "true",
		AutoStop:    values[optFileshareAutoStop] == "true",
		OnAutoStop:  b.autoStopped,
	}, net.JoinHostPort(listen, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	b.Server = srv
	return b, nil
}

// hookBackend connects a started backend to the manager: fileshare's
// auto-stop disables the service. Call with s.mu held.
func (m *Manager) hookBackend(s *service, b Backend) {
	if fb, ok := b.(*builtinFileshare); ok {
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
	m.log.Info("auto-stop after the first download", "service", s.def.Name)
	if _, err := m.disable(context.Background(), s.def.Name, autoStoppedMsg); err != nil {
		m.log.Warn("auto-stop: disabling", "service", s.def.Name, "err", err)
	}
}

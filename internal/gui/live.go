package gui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// loadLive loads the live parts of the page at path.
func (s *Server) loadLive(ctx context.Context, path string) (*view, error) {
	switch {
	case path == "/":
		return s.loadServices(ctx)
	case path == "/settings":
		return s.loadSettings(ctx, true)
	case path == "/isolation":
		return s.loadIsolation(ctx, true, auditWindow)
	case strings.HasPrefix(path, "/services/") && !strings.Contains(path[len("/services/"):], "/"):
		return s.loadService(ctx, path[len("/services/"):], true, nil, "")
	}
	return nil, errors.New("no live page")
}

type liveMsg struct {
	ID   string `json:"id"`
	Hash string `json:"hash"`
	HTML string `json:"html"`
}

// events streams the live parts of a page as server-sent events: every
// LiveInterval the parts are drawn again, and those that changed are sent
// ("live" events, JSON [{id, hash, html}]). The script replaces a part
// whose hash differs from the one on the page. A "login" event tells the
// page that the session ended.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	path := "/" + r.PathValue("path")
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n\n")
	fl.Flush()
	ss := sessionFrom(r)
	sent := map[string]string{}
	tick := time.NewTicker(s.cfg.LiveInterval)
	defer tick.Stop()
	idle := 0
	for {
		if s.sessionOf(r) != ss {
			fmt.Fprint(w, "event: login\ndata: {}\n\n")
			fl.Flush()
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
		v, err := s.loadLive(ctx, path)
		cancel()
		if err == nil {
			t := pages[v.tmpl]
			p := &pageData{CSRF: ss.csrf, D: v.data, Authed: true}
			fr, err := frags(t, p, v.live)
			if err == nil {
				var msgs []liveMsg
				for _, f := range fr {
					if sent[f.ID] != f.Hash {
						sent[f.ID] = f.Hash
						msgs = append(msgs, liveMsg{f.ID, f.Hash, string(f.HTML)})
					}
				}
				if len(msgs) > 0 {
					b, _ := json.Marshal(msgs)
					fmt.Fprintf(w, "event: live\ndata: %s\n\n", b)
					fl.Flush()
					idle = 0
				}
			}
		}
		if idle++; idle >= 15 {
			fmt.Fprint(w, ": still here\n\n")
			fl.Flush()
			idle = 0
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

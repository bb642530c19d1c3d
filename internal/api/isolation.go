package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/services"
)

// IsolationDaemon is what a daemon with a stream isolation policy offers.
type IsolationDaemon interface {
	IsolationPolicy(ctx context.Context) (apitype.IsolationPolicy, error)
	// IsolationAudit audits tor's streams until ctx ends, passing each
	// event to emit (which may be nil), and returns the report.
	IsolationAudit(ctx context.Context, emit func(apitype.IsolationAuditEvent)) (*apitype.IsolationAudit, error)
}

// maxAudit bounds an audit's ?for=.
const maxAudit = time.Hour

func (h *handler) isolationDaemon() (IsolationDaemon, error) {
	d, ok := h.d.(IsolationDaemon)
	if !ok {
		return nil, &services.Error{Status: http.StatusNotFound, Msg: "this daemon has no stream isolation policy"}
	}
	return d, nil
}

func (h *handler) isolationPolicy(w http.ResponseWriter, r *http.Request) (any, error) {
	d, err := h.isolationDaemon()
	if err != nil {
		return nil, err
	}
	return d.IsolationPolicy(r.Context())
}

// isolationAudit answers a report after ?for=DURATION, or with ?stream=1
// streams the audit's events as NDJSON (until the client goes, or for
// DURATION, the report last).
func (h *handler) isolationAudit(w http.ResponseWriter, r *http.Request) (any, error) {
	d, err := h.isolationDaemon()
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	var dur time.Duration
	if f := q.Get("for"); f != "" {
		dur, err = time.ParseDuration(f)
		if err != nil || dur <= 0 || dur > maxAudit {
			return nil, &services.Error{Status: http.StatusBadRequest, Msg: "for must be a duration between 0 and 1h, such as 30s"}
		}
	}
	stream := q.Get("stream") == "1"
	if !stream && dur == 0 {
		return nil, &services.Error{Status: http.StatusBadRequest, Msg: "an audit needs ?for=DURATION (a report) or ?stream=1 (events)"}
	}
	ctx := r.Context()
	if dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, dur)
		defer cancel()
	}
	if !stream {
		return d.IsolationAudit(ctx, nil)
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	write := func(ev apitype.IsolationAuditEvent) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(ev)
		if fl != nil {
			fl.Flush()
		}
	}
	report, err := d.IsolationAudit(ctx, write)
	if err != nil {
		write(apitype.IsolationAuditEvent{Time: time.Now().UTC(), Error: &apitype.Error{Error: err.Error()}})
	} else if dur > 0 && r.Context().Err() == nil {
		write(apitype.IsolationAuditEvent{Time: time.Now().UTC(), Report: report})
	}
	return nil, errStreamed
}

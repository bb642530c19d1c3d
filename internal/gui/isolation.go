package gui

import (
	"context"
	"net/http"
	"time"

	"tails-server/internal/apitype"
)

// auditWindow is how long each refresh of the live audit watches tor's
// streams; auditWindowNoJS is the one audit a page without JavaScript
// asks for.
const (
	auditWindow     = 3 * time.Second
	auditWindowNoJS = 5 * time.Second
)

// isolationData is the isolation page: the policy and the live audit.
type isolationData struct {
	Policy   apitype.IsolationPolicy
	Audit    *apitype.IsolationAudit
	AuditErr string
	Window   time.Duration
	// Missing says what the running tor lacks; Advice how to fix it, as
	// fits the network mode.
	Missing []string
	Advice  *isolationAdvice
}

func (s *Server) loadIsolation(ctx context.Context, live bool, audit time.Duration) (*view, error) {
	d := &isolationData{Window: audit}
	var err error
	if d.Policy, err = s.c.IsolationPolicy(ctx); err != nil {
		return nil, err
	}
	if !live && len(d.Policy.Missing) > 0 {
		network := ""
		if st, err := s.c.Daemon(ctx); err == nil {
			network = st.Network
		}
		for _, m := range d.Policy.Missing {
			d.Missing = append(d.Missing, forGUI(m).Text)
		}
		d.Advice = adviseIsolation(network, d.Policy)
	}
	if audit > 0 {
		if a, err := s.c.IsolationAudit(ctx, audit); err != nil {
			_, d.AuditErr, _ = describe(err)
		} else {
			d.Audit = &a
		}
	}
	return &view{tmpl: "isolation", title: "Stream isolation", nav: "isolation", data: d, live: []string{"audit"}}, nil
}

func (s *Server) isolationPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := apiCtx(r)
	defer cancel()
	var audit time.Duration
	if r.URL.Query().Get("audit") == "1" {
		audit = auditWindowNoJS
	}
	v, err := s.loadIsolation(ctx, false, audit)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, v)
}

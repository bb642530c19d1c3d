package gui

import (
	"context"
	"errors"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/client"
)

// job is an enable the GUI started and follows: the daemon streams its
// progress, the pages show it, and its error stays shown until the next
// attempt.
type job struct {
	running bool
	step    string
	percent *float64
	err     string
	hint    string
	ended   time.Time
}

// jobView is a copy of a job for a page.
type jobView struct {
	Running bool
	Step    string
	Percent float64
	HasPct  bool
	Err     string
	Hint    string
}

// enableTimeout bounds a whole enable (package installation included).
const enableTimeout = 30 * time.Minute

// startEnable enables a service in the background; false if an enable the
// GUI started is still running. The enable is made for uid.
func (s *Server) startEnable(name string, uid int) bool {
	s.mu.Lock()
	if j := s.jobs[name]; j != nil && j.running {
		s.mu.Unlock()
		return false
	}
	j := &job{running: true, step: "asking the daemon"}
	s.jobs[name] = j
	s.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(client.WithCaller(s.base, uid), enableTimeout)
		defer cancel()
		svc, err := s.c.EnableStream(ctx, name, apitype.EnableRequest{}, func(p apitype.Progress) {
			s.mu.Lock()
			j.step, j.percent = capital(p.Text()), p.Percent
			s.mu.Unlock()
		})
		s.mu.Lock()
		defer s.mu.Unlock()
		j.running, j.ended, j.percent = false, time.Now(), nil
		var ce *client.Error
		switch {
		case errors.As(err, &ce):
			j.err, j.hint = capital(ce.Msg)+".", hintForGUI(ce.Hint)
		case err != nil:
			_, j.err, j.hint = describe(err)
		case svc.State == apitype.StateFailed:
			j.err = capital(svc.Error) + "."
		}
	}()
	return true
}

// jobOf returns the state of the GUI's last enable of a service, or nil.
func (s *Server) jobOf(name string) *jobView {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[name]
	if j == nil || (!j.running && j.err == "") {
		return nil
	}
	v := &jobView{Running: j.running, Step: j.step, Err: j.err, Hint: j.hint}
	if j.percent != nil {
		v.Percent, v.HasPct = *j.percent, true
	}
	return v
}

// clearJob forgets a finished job (its error) before a new action.
func (s *Server) clearJob(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs[name]; j != nil && !j.running {
		delete(s.jobs, name)
	}
}

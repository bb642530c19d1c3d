package services

import (
	"context"
	"fmt"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
)

// The timers of a service that declares them (catalog.OptStopAfter,
// catalog.OptStartAt):
//
//   - stop-after: the first time the onion is added after an enable, the
//     record gets PublishedAt and StopAt (PublishedAt plus the option);
//     at StopAt the service is disabled like auto-stop does, with the
//     reason in its status. A daemon that starts after StopAt disables
//     it without publishing.
//   - start-at: enable before that time records the service enabled and
//     leaves it scheduled (state.go): nothing runs until the time, when
//     evStartAt starts it as enable does. A daemon that starts before the
//     time schedules it again; after it, publishes it.
//
// Both deadlines are absolute times in the record (the option's value,
// StopAt), so a restart of the daemon keeps them. One timer per service,
// armed for the next deadline, goes by the manager's Clock.

// Clock is what the timers go by: the wall clock, or a test's.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f, in a goroutine of its own, once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is an armed call of Clock.AfterFunc.
type Timer interface {
	// Stop keeps the call from happening, if it has not yet.
	Stop() bool
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// declares reports whether the service has an option of that name.
func declares(def *catalog.Service, name string) bool {
	_, ok := def.Option(name)
	return ok
}

// startAt returns the service's start-at time, if it declares the option
// and it is set. Call with s.mu held.
func (m *Manager) startAt(s *service) (time.Time, bool) {
	if !declares(s.def, catalog.OptStartAt) {
		return time.Time{}, false
	}
	t, ok, err := catalog.ParseTime(m.value(s, catalog.OptStartAt))
	if err != nil {
		m.log.Warn("start-at", "service", s.def.Name, "err", err)
		return time.Time{}, false
	}
	return t, ok
}

// waitsForStart reports whether an enable now must wait for start-at,
// and until when. Call with s.mu held.
func (m *Manager) waitsForStart(s *service) (time.Time, bool) {
	t, ok := m.startAt(s)
	return t, ok && m.clock.Now().Before(t)
}

// stopAfter returns the service's stop-after, 0 for none. Call with s.mu
// held.
func (m *Manager) stopAfter(s *service) time.Duration {
	if !declares(s.def, catalog.OptStopAfter) {
		return 0
	}
	d, err := catalog.ParseDuration(m.value(s, catalog.OptStopAfter))
	if err != nil {
		m.log.Warn("stop-after", "service", s.def.Name, "err", err)
		return 0
	}
	return d
}

// scheduledWhy is what status says of a scheduled service.
func scheduledWhy(at time.Time) string {
	return fmt.Sprintf("publishes at %s (start-at)", catalog.FormatTime(at))
}

// stoppedWhy is what status says after stop-after disabled the service;
// late: its time ran out while the daemon was not running. Call with
// s.mu held.
func stoppedWhy(s *service, late bool) string {
	d := ""
	if s.rec.PublishedAt != nil && s.rec.StopAt != nil {
		d = " after " + catalog.FormatDuration(s.rec.StopAt.Sub(*s.rec.PublishedAt))
	}
	msg := "stopped by stop-after" + d
	if late {
		msg += " (its time ran out while the daemon was not running)"
	}
	return msg + "; enable it again to publish it again"
}

// published starts the stop-after clock at the first publication since
// the service was enabled, and keeps StopAt in step with the option.
// Call with s.mu held, after evOnionAdded.
func (m *Manager) published(s *service) {
	if !s.rec.Enabled {
		return
	}
	first := s.rec.PublishedAt == nil
	if first {
		// Rounded up to the second: the deadline is never early.
		now := m.clock.Now().UTC().Add(time.Second - 1).Truncate(time.Second)
		s.rec.PublishedAt = &now
	}
	m.setStopAt(s, first)
}

// setStopAt sets StopAt from PublishedAt and stop-after, saves the
// record if that changed it (or dirty), and arms the timer. Call with
// s.mu held.
func (m *Manager) setStopAt(s *service, dirty bool) {
	var stop *time.Time
	if d := m.stopAfter(s); d > 0 && s.rec.Enabled && s.rec.PublishedAt != nil {
		t := s.rec.PublishedAt.Add(d)
		stop = &t
	}
	same := (stop == nil) == (s.rec.StopAt == nil) && (stop == nil || stop.Equal(*s.rec.StopAt))
	if !same || dirty {
		s.rec.StopAt = stop
		if err := m.store.Save(s.rec); err != nil {
			// The deadline holds in memory; a restart loses it.
			m.log.Warn("saving the stop-after deadline", "service", s.def.Name, "err", err)
		}
	}
	m.armTimer(s)
}

// armTimer arms the service's timer for its next deadline: start-at
// while it is scheduled, StopAt while it is enabled; none else. Call with
// s.mu held.
func (m *Manager) armTimer(s *service) {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	var due time.Time
	switch {
	case s.state == apitype.StateScheduled:
		t, ok := m.startAt(s)
		if !ok {
			return
		}
		due = t
	case s.rec.Enabled && s.rec.StopAt != nil:
		due = *s.rec.StopAt
	default:
		return
	}
	s.timer = m.clock.AfterFunc(max(due.Sub(m.clock.Now()), 0), func() { m.timerFired(s) })
}

// timerFired does what is due: stop-after's end disables the service,
// start-at's time publishes it. A timer that fires late, or for a
// deadline that moved, finds nothing due and re-arms.
func (m *Manager) timerFired(s *service) {
	m.mu.Lock()
	stopping := m.stopping
	m.mu.Unlock()
	if stopping {
		return
	}
	ctx := context.Background()
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	now := m.clock.Now()
	stop := s.rec.Enabled && s.rec.StopAt != nil && !now.Before(*s.rec.StopAt)
	_, later := m.waitsForStart(s)
	start := s.state == apitype.StateScheduled && !later
	why := stoppedWhy(s, false)
	if !stop && !start {
		m.armTimer(s)
	}
	s.mu.Unlock()
	switch {
	case stop:
		m.log.Info("stop-after ran out: disabling", "service", s.def.Name)
		if err := m.takeDown(ctx, s, false, evDisable, why); err != nil {
			m.log.Warn("stop-after: disabling", "service", s.def.Name, "err", err)
		}
	case start:
		m.log.Info("start-at reached: publishing", "service", s.def.Name)
		s.mu.Lock()
		s.fire(evStartAt, "")
		s.mu.Unlock()
		m.startNow(ctx, s)
	}
}

// startNow starts the backend and publishes the onion of an enabled
// service, after evEnable or evStartAt. Call with s.op held.
func (m *Manager) startNow(ctx context.Context, s *service) {
	if err := m.startBackend(ctx, s); err != nil {
		m.log.Error("service did not start", "service", s.def.Name, "err", err)
		return
	}
	m.ensurePublished(ctx, s)
	s.mu.Lock()
	m.armTimer(s)
	s.mu.Unlock()
}

// timerOptionSet applies a new value of stop-after or start-at, saved
// already, without restarting anything: stop-after moves the deadline of
// the current publication (counted from PublishedAt, so a shorter one
// may be due at once); start-at moves a scheduled service's time, and
// once cleared, publishes it now. Call with s.op held.
func (m *Manager) timerOptionSet(ctx context.Context, s *service, option string) {
	s.mu.Lock()
	s.fire(evOptionSaved, "")
	if option == catalog.OptStopAfter {
		m.setStopAt(s, false)
		s.mu.Unlock()
		return
	}
	if s.state != apitype.StateScheduled {
		s.mu.Unlock()
		return
	}
	if at, later := m.waitsForStart(s); later {
		s.fire(evSchedule, scheduledWhy(at))
		m.armTimer(s)
		s.mu.Unlock()
		return
	}
	s.fire(evEnable, "")
	s.mu.Unlock()
	m.startNow(ctx, s)
}

// timerNotes are set-option's notes on a timer option. Call with s.mu
// held.
func (m *Manager) timerNotes(s *service, option string) []string {
	if option == catalog.OptStartAt && s.rec.Enabled && s.state != apitype.StateScheduled {
		if _, later := m.waitsForStart(s); later {
			return []string{fmt.Sprintf("%s is enabled already: start-at applies the next time it is enabled (disable it, then enable it, to publish it only then)", s.def.Name)}
		}
	}
	if option == catalog.OptStopAfter && s.rec.Enabled && s.rec.StopAt == nil && s.rec.PublishedAt == nil && s.state != apitype.StateScheduled {
		if m.stopAfter(s) > 0 {
			return []string{"stop-after counts from the moment the onion is published"}
		}
	}
	return nil
}

// timersOut fills in the service's deadlines for info. Call with s.mu
// held.
func (m *Manager) timersOut(s *service, out *apitype.Service) {
	if s.state == apitype.StateScheduled {
		if t, ok := m.startAt(s); ok {
			out.StartsAt = &t
		}
	}
	if s.rec.Enabled && s.rec.StopAt != nil {
		t := s.rec.StopAt.UTC()
		out.StopsAt = &t
	}
}

// stopTimers stops every service's timer for the daemon's shutdown:
// none fires after it (the deadlines stay in the records).
func (m *Manager) stopTimers() {
	m.mu.Lock()
	m.stopping = true
	m.mu.Unlock()
	for _, s := range m.all() {
		s.mu.Lock()
		if s.timer != nil {
			s.timer.Stop()
			s.timer = nil
		}
		s.mu.Unlock()
	}
}

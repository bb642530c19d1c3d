package services

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/store"
	catalogfs "tails-server/services"
)

// fakeClock is a Clock the test moves by hand: its timers fire, in the
// test's goroutine, only when Advance passes their time.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	at   time.Time
	f    func()
	done bool
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves the clock by d and runs the timers that are due, one by
// one (a timer a fired one arms is run too if due).
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var due *fakeTimer
		for _, t := range c.timers {
			if !t.done && !t.at.After(c.now) {
				due = t
				break
			}
		}
		if due != nil {
			due.done = true
		}
		c.mu.Unlock()
		if due == nil {
			return
		}
		due.f()
	}
}

// armed counts the timers not fired nor stopped.
func (c *fakeClock) armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.done {
			n++
		}
	}
	return n
}

// timerRig is a manager of the built-in catalog with no tor, on a store
// in dir, going by clock.
type timerRig struct {
	t     *testing.T
	dir   string
	clock *fakeClock
	st    *store.Store
	m     *Manager
}

func newTimerRig(t *testing.T, dir string, clock *fakeClock) *timerRig {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "state"), filepath.Join(dir, "volatile"))
	if err != nil {
		t.Fatal(err)
	}
	cat, errs := catalog.Load(catalogfs.FS)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m, err := New(st, OneTor{T: countedTor{}}, cat, Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return &timerRig{t: t, dir: dir, clock: clock, st: st, m: m}
}

// restart stops the manager as the daemon's shutdown does and starts a
// new one on the same state (the machine did not reboot), at the
// clock's time.
func (r *timerRig) restart() *timerRig {
	r.t.Helper()
	r.m.Stop()
	if err := os.WriteFile(filepath.Join(r.st.Volatile, bootMarker), nil, 0o600); err != nil {
		r.t.Fatal(err)
	}
	n := newTimerRig(r.t, r.dir, r.clock)
	n.m.Start(context.Background())
	return n
}

func (r *timerRig) set(option, value string) {
	r.t.Helper()
	if _, err := r.m.SetOption(context.Background(), "fileshare", option, value); err != nil {
		r.t.Fatalf("set-option %s %s: %v", option, value, err)
	}
}

func (r *timerRig) enable() apitype.Service {
	r.t.Helper()
	s, err := r.m.Enable(context.Background(), "fileshare", time.Millisecond, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// publish is what a publication does to the timers: tor answered
// ADD_ONION (there is no tor here).
func (r *timerRig) publish() {
	s, _ := r.m.get("fileshare")
	s.mu.Lock()
	s.fire(evOnionAdded, "")
	r.m.published(s)
	s.mu.Unlock()
}

func (r *timerRig) info() apitype.Service {
	r.t.Helper()
	s, err := r.m.Info("fileshare", false, false)
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

func (r *timerRig) running() bool {
	s, _ := r.m.get("fileshare")
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.backend != nil
}

// record is the service's record as stored.
func (r *timerRig) record() map[string]any {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.st.ServiceDir("fileshare"), "service.json"))
	if err != nil {
		r.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		r.t.Fatal(err)
	}
	return m
}

var t0 = time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)

// TestStopAfterWithdraws: with stop-after 30s, the service is published,
// its deadline 30 s after the publication is in info and in the record,
// and when it comes the service is disabled, its backend stopped, and
// its status says why.
func TestStopAfterWithdraws(t *testing.T) {
	r := newTimerRig(t, t.TempDir(), &fakeClock{now: t0})
	r.set(catalog.OptStopAfter, "30s")
	r.enable()
	r.clock.Advance(5 * time.Second) // tor takes its time
	r.publish()
	want := t0.Add(35 * time.Second)
	if s := r.info(); s.StopsAt == nil || !s.StopsAt.Equal(want) {
		t.Fatalf("stops_at = %v, want %v", s.StopsAt, want)
	}
	if got := r.record()["stop_at"]; got != want.Format(time.RFC3339) {
		t.Fatalf("stored stop_at = %v, want %v", got, want.Format(time.RFC3339))
	}
	r.clock.Advance(29 * time.Second)
	if s := r.info(); !s.Enabled || !r.running() {
		t.Fatalf("stopped before its time: enabled %v, state %s", s.Enabled, s.State)
	}
	r.clock.Advance(time.Second)
	s := r.info()
	if s.Enabled || s.State != apitype.StateDisabled || r.running() {
		t.Fatalf("after 30 s: enabled %v, state %s, backend running %v", s.Enabled, s.State, r.running())
	}
	if s.Error != "stopped by stop-after after 30s; enable it again to publish it again" {
		t.Fatalf("status says %q", s.Error)
	}
	if s.StopsAt != nil || r.record()["stop_at"] != nil || r.record()["enabled"] != false {
		t.Fatalf("the deadline stayed: %v, record %v", s.StopsAt, r.record())
	}
	if r.clock.armed() != 0 {
		t.Fatalf("%d timers left armed", r.clock.armed())
	}
}

// TestStopAfterMovesWithoutRestart: changing stop-after while the share
// runs moves the deadline (from the publication) and restarts nothing; a
// deadline already past ends the share at once; 0 removes it.
func TestStopAfterMovesWithoutRestart(t *testing.T) {
	r := newTimerRig(t, t.TempDir(), &fakeClock{now: t0})
	r.enable()
	r.publish()
	if s := r.info(); s.StopsAt != nil {
		t.Fatalf("a deadline without stop-after: %v", s.StopsAt)
	}
	fs, _ := r.m.get("fileshare")
	backend := fs.backend
	r.clock.Advance(10 * time.Minute)
	r.set(catalog.OptStopAfter, "1h")
	if s := r.info(); s.StopsAt == nil || !s.StopsAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("stops_at = %v, want an hour after the publication", s.StopsAt)
	}
	if fs.backend != backend {
		t.Fatal("set-option stop-after restarted the backend")
	}
	r.set(catalog.OptStopAfter, "0")
	if s := r.info(); s.StopsAt != nil || r.clock.armed() != 0 {
		t.Fatalf("stop-after 0 left stops_at %v, %d timers", s.StopsAt, r.clock.armed())
	}
	r.set(catalog.OptStopAfter, "5m")
	r.clock.Advance(0)
	if s := r.info(); s.Enabled || !strings.HasPrefix(s.Error, "stopped by stop-after after 5m;") {
		t.Fatalf("a deadline already past: enabled %v, %q", s.Enabled, s.Error)
	}
}

// TestStartAtSchedules: enable before start-at records the service
// enabled and scheduled, runs nothing, and says when; at that time it
// starts; disable before it cancels it; clearing start-at starts it now.
func TestStartAtSchedules(t *testing.T) {
	r := newTimerRig(t, t.TempDir(), &fakeClock{now: t0})
	r.set(catalog.OptStartAt, "+20s")
	if o, _ := r.m.GetOption("fileshare", catalog.OptStartAt, false); o.Value != "2026-12-02T08:00:20Z" {
		t.Fatalf("+20s kept as %q", o.Value)
	}
	s := r.enable()
	if s.State != apitype.StateScheduled || !s.Enabled || r.running() || s.OnionAddress == "" {
		t.Fatalf("enable before start-at: state %s, enabled %v, running %v, address %q", s.State, s.Enabled, r.running(), s.OnionAddress)
	}
	if s.StartsAt == nil || !s.StartsAt.Equal(t0.Add(20*time.Second)) || s.Error != "publishes at 2026-12-02T08:00:20Z (start-at)" {
		t.Fatalf("starts_at %v, reason %q", s.StartsAt, s.Error)
	}
	r.clock.Advance(19 * time.Second)
	if r.running() {
		t.Fatal("started before start-at")
	}
	r.clock.Advance(time.Second)
	if s := r.info(); s.State != apitype.StateStarting || !r.running() || s.StartsAt != nil {
		t.Fatalf("at start-at: state %s, running %v, starts_at %v", s.State, r.running(), s.StartsAt)
	}

	// Disable, schedule again, disable before the time: nothing starts.
	if _, err := r.m.Disable(context.Background(), "fileshare"); err != nil {
		t.Fatal(err)
	}
	r.set(catalog.OptStartAt, "+1m")
	r.enable()
	if _, err := r.m.Disable(context.Background(), "fileshare"); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(2 * time.Minute)
	if s := r.info(); s.State != apitype.StateDisabled || r.running() {
		t.Fatalf("disabled before start-at, then: state %s, running %v", s.State, r.running())
	}

	// Scheduled, a later time moves it; cleared, it starts now.
	r.set(catalog.OptStartAt, "+1h")
	r.enable()
	r.set(catalog.OptStartAt, "+2h")
	if s := r.info(); s.State != apitype.StateScheduled || !s.StartsAt.Equal(r.clock.Now().Add(2*time.Hour)) {
		t.Fatalf("moved: state %s, starts_at %v", s.State, s.StartsAt)
	}
	r.set(catalog.OptStartAt, "")
	if s := r.info(); s.State != apitype.StateStarting || !r.running() {
		t.Fatalf("start-at cleared: state %s, running %v", s.State, r.running())
	}
}

// TestTimerValuesRefused: a bad duration and a time in the past are
// refused with one line, the old value kept.
func TestTimerValuesRefused(t *testing.T) {
	r := newTimerRig(t, t.TempDir(), &fakeClock{now: t0})
	for option, value := range map[string]string{catalog.OptStopAfter: "10 minutes", catalog.OptStartAt: "2026-12-02T07:59:00Z"} {
		_, err := r.m.SetOption(context.Background(), "fileshare", option, value)
		var e *Error
		if !errors.As(err, &e) || e.Status != 400 || strings.Contains(e.Msg, "\n") {
			t.Fatalf("%s %q: %v, want one line, status 400", option, value, err)
		}
		if o, _ := r.m.GetOption("fileshare", option, false); o.Value != "" {
			t.Fatalf("%s is %q after a refused value", option, o.Value)
		}
	}
}

// TestTimersSurviveRestart: the deadlines hold across a restart of the
// daemon: one still ahead is armed again, one that passed while the
// daemon was down fires at its start (stop-after: not published;
// start-at: published).
func TestTimersSurviveRestart(t *testing.T) {
	t.Run("stop-after ahead", func(t *testing.T) {
		r := newTimerRig(t, t.TempDir(), &fakeClock{now: t0})
		r.set(catalog.OptStopAfter, "30s")
		r.enable()
		r.publish()
		r.clock.Advance(10 * time.Second)
		r = r.restart()
		if s := r.info(); !s.Enabled || !r.running() || s.StopsAt == nil || !s.StopsAt.Equal(t0.Add(30*time.Second)) {
			t.Fatalf("after the restart: enabled %v, running %v, stops_at %v", s.Enabled, r.running(), s.StopsAt)
		}
		r.publish() // the onion is added again: the deadline does not move
		r.clock.Advance(20 * time.Second)
		if s := r.info(); s.Enabled || r.running() || !strings.HasPrefix(s.Error, "stopped by stop-after after 30s;") {
			t.Fatalf("at the deadline: enabled %v, running %v, %q", s.Enabled, r.running(), s.Error)
		}
	})
	t.Run("stop-after passed while down", func(t *testing.T) {
		r := newTimerRig(t, t.TempDir(), &fakeClock{now: t0})
		r.set(catalog.OptStopAfter, "30s")
		r.enable()
		r.publish()
		r.m.Stop()
		r.clock.Advance(time.Minute)
		r = r.restart()
		s := r.info()
		if s.Enabled || r.running() || s.State != apitype.StateDisabled {
			t.Fatalf("started after the deadline: enabled %v, running %v, state %s", s.Enabled, r.running(), s.State)
		}
		if want := "stopped by stop-after after 30s (its time ran out while the daemon was not running)"; !strings.HasPrefix(s.Error, want) {
			t.Fatalf("status says %q, want %q", s.Error, want)
		}
	})
	t.Run("start-at ahead", func(t *testing.T) {
		r := newTimerRig(t, t.TempDir(), &fakeClock{now: t0})
		r.set(catalog.OptStartAt, "+20s")
		r.enable()
		r.clock.Advance(5 * time.Second)
		r = r.restart()
		if s := r.info(); s.State != apitype.StateScheduled || !s.Enabled || r.running() {
			t.Fatalf("after the restart: state %s, enabled %v, running %v", s.State, s.Enabled, r.running())
		}
		r.clock.Advance(15 * time.Second)
		if s := r.info(); s.State != apitype.StateStarting || !r.running() {
			t.Fatalf("at start-at: state %s, running %v", s.State, r.running())
		}
	})
	t.Run("start-at passed while down", func(t *testing.T) {
		r := newTimerRig(t, t.TempDir(), &fakeClock{now: t0})
		r.set(catalog.OptStartAt, "+20s")
		r.enable()
		r.m.Stop()
		r.clock.Advance(time.Hour)
		r = r.restart()
		if s := r.info(); s.State != apitype.StateStarting || !r.running() {
			t.Fatalf("after start-at: state %s, running %v", s.State, r.running())
		}
	})
}

// TestTimersOnOldState: a daemon starts on the record of a version
// without timers (enabled, no published_at nor stop_at, no timer
// options): the service comes back as before, with no deadline, and
// takes stop-after from then on.
func TestTimersOnOldState(t *testing.T) {
	dir := t.TempDir()
	svc := filepath.Join(dir, "volatile", "services", "fileshare")
	for path, body := range map[string]string{
		filepath.Join(svc, "service.json"):           `{"name":"fileshare","enabled":true,"persistent":false,"options":{"mode":"share","auto-stop":"false"}}`,
		filepath.Join(dir, "volatile", bootMarker):   "",
		filepath.Join(svc, "data", "share", "a.txt"): "a",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := newTimerRig(t, dir, &fakeClock{now: t0})
	r.m.Start(context.Background())
	if s := r.info(); !s.Enabled || !r.running() || s.StopsAt != nil || s.StartsAt != nil || s.State != apitype.StateStarting {
		t.Fatalf("old state: enabled %v, running %v, state %s, stops_at %v, starts_at %v", s.Enabled, r.running(), s.State, s.StopsAt, s.StartsAt)
	}
	r.publish()
	r.set(catalog.OptStopAfter, "1m")
	r.clock.Advance(time.Minute)
	if s := r.info(); s.Enabled {
		t.Fatalf("stop-after on old state did not fire: state %s", s.State)
	}
}

// TestEnableReturnsWhenStopAfterEnds: an enable still waiting for the
// service to be reachable returns, disabled with the reason, when
// stop-after ends the share meanwhile, instead of waiting out its time.
func TestEnableReturnsWhenStopAfterEnds(t *testing.T) {
	r := newTimerRig(t, t.TempDir(), &fakeClock{now: t0})
	r.set(catalog.OptStopAfter, "30s")
	fs, _ := r.m.get("fileshare")
	done := make(chan apitype.Service, 1)
	go func() {
		s, err := r.m.Enable(context.Background(), "fileshare", time.Hour, nil)
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	for { // until the backend runs and the service is recorded enabled

		fs.mu.Lock()
		up := fs.backend != nil && fs.rec.Enabled
		fs.mu.Unlock()
		if up {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.publish()
	r.clock.Advance(30 * time.Second)
	select {
	case s := <-done:
		if s.State != apitype.StateDisabled || !strings.HasPrefix(s.Error, "stopped by stop-after") {
			t.Fatalf("enable answered state %s, %q", s.State, s.Error)
		}
	case <-time.After(time.Minute):
		t.Fatal("enable still waits, a minute after stop-after disabled the service")
	}
}

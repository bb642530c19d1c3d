package services

import (
	"strings"
	"testing"

	"tails-server/internal/apitype"
	"tails-server/internal/catalog"
	"tails-server/internal/supervise"
)

// Short names for the table.
const (
	dis   = apitype.StateDisabled
	start = apitype.StateStarting
	addr  = apitype.StateAddressed
	pub   = apitype.StatePublished
	reach = apitype.StateReachable
	unr   = apitype.StateFailing
	fail  = apitype.StateFailed
	sched = apitype.StateScheduled
	// na: the event cannot happen in that state and changes nothing.
	na = "n/a"
)

var (
	allStates = []string{dis, sched, start, addr, pub, reach, unr, fail}
	allEvents = []event{evEnable, evDisable, evRestart, evOptionSaved, evOptionRolledBack, evBackendUp, evBackendFailed,
		evBackendExited, evBackendRestarted, evOnionAdded, evPublishFailed, evUploaded, evCheckOK, evCheckFailed,
		evTorRestarted, evSchedule, evStartAt}
)

// table is every (state, event) pair and where it leads, written out by
// hand: the state machine's specification.
var table = map[string]map[event]string{
	dis: {
		evEnable: start, evDisable: dis, evRestart: na, evOptionSaved: dis, evOptionRolledBack: dis,
		evBackendUp: na, evBackendFailed: na, evBackendExited: na, evBackendRestarted: na,
		evOnionAdded: na, evPublishFailed: na, evUploaded: na, evCheckOK: na, evCheckFailed: na, evTorRestarted: na,
		evSchedule: sched, evStartAt: na,
	},
	sched: {
		evEnable: start, evDisable: dis, evRestart: na, evOptionSaved: sched, evOptionRolledBack: sched,
		evBackendUp: na, evBackendFailed: na, evBackendExited: na, evBackendRestarted: na,
		evOnionAdded: na, evPublishFailed: na, evUploaded: na, evCheckOK: na, evCheckFailed: na, evTorRestarted: na,
		evSchedule: sched, evStartAt: start,
	},
	start: {
		evEnable: start, evDisable: dis, evRestart: start, evOptionSaved: start, evOptionRolledBack: start,
		evBackendUp: start, evBackendFailed: fail, evBackendExited: start, evBackendRestarted: start,
		evOnionAdded: addr, evPublishFailed: fail, evUploaded: na, evCheckOK: na, evCheckFailed: na, evTorRestarted: start,
		evSchedule: sched, evStartAt: na,
	},
	addr: {
		evEnable: addr, evDisable: dis, evRestart: start, evOptionSaved: addr, evOptionRolledBack: addr,
		evBackendUp: na, evBackendFailed: fail, evBackendExited: addr, evBackendRestarted: addr,
		evOnionAdded: addr, evPublishFailed: fail, evUploaded: pub, evCheckOK: reach, evCheckFailed: addr, evTorRestarted: start,
		evSchedule: na, evStartAt: na,
	},
	pub: {
		evEnable: pub, evDisable: dis, evRestart: start, evOptionSaved: pub, evOptionRolledBack: pub,
		evBackendUp: na, evBackendFailed: fail, evBackendExited: pub, evBackendRestarted: pub,
		evOnionAdded: addr, evPublishFailed: fail, evUploaded: pub, evCheckOK: reach, evCheckFailed: pub, evTorRestarted: start,
		evSchedule: na, evStartAt: na,
	},
	reach: {
		evEnable: reach, evDisable: dis, evRestart: start, evOptionSaved: reach, evOptionRolledBack: reach,
		evBackendUp: na, evBackendFailed: fail, evBackendExited: unr, evBackendRestarted: reach,
		evOnionAdded: addr, evPublishFailed: fail, evUploaded: reach, evCheckOK: reach, evCheckFailed: unr, evTorRestarted: start,
		evSchedule: na, evStartAt: na,
	},
	unr: {
		evEnable: unr, evDisable: dis, evRestart: start, evOptionSaved: unr, evOptionRolledBack: unr,
		evBackendUp: na, evBackendFailed: fail, evBackendExited: unr, evBackendRestarted: unr,
		evOnionAdded: addr, evPublishFailed: fail, evUploaded: unr, evCheckOK: reach, evCheckFailed: unr, evTorRestarted: start,
		evSchedule: na, evStartAt: na,
	},
	fail: {
		evEnable: start, evDisable: dis, evRestart: start, evOptionSaved: fail, evOptionRolledBack: fail,
		evBackendUp: na, evBackendFailed: fail, evBackendExited: na, evBackendRestarted: na,
		evOnionAdded: addr, evPublishFailed: fail, evUploaded: na, evCheckOK: na, evCheckFailed: na, evTorRestarted: start,
		evSchedule: sched, evStartAt: na,
	},
}

// TestTransitionTable checks every (state, event) pair against the
// table, and that the table has them all.
func TestTransitionTable(t *testing.T) {
	for _, st := range allStates {
		row, ok := table[st]
		if !ok {
			t.Fatalf("state %q has no row", st)
		}
		if len(row) != len(allEvents) {
			t.Errorf("state %q: %d events in its row, want %d", st, len(row), len(allEvents))
		}
		for _, ev := range allEvents {
			want, ok := row[ev]
			if !ok {
				t.Errorf("(%s, %s) missing from the table", st, ev)
				continue
			}
			got, applies := transition(st, ev)
			if want == na {
				if applies || got != st {
					t.Errorf("(%s, %s) = %s, %v; want it not to apply", st, ev, got, applies)
				}
				continue
			}
			if !applies || got != want {
				t.Errorf("(%s, %s) = %s, %v; want %s", st, ev, got, applies, want)
			}
		}
	}
}

// TestEveryStateHasAWayOut: from every state, disable leads to disabled,
// and some sequence of events leads to reachable and to disabled.
func TestEveryStateHasAWayOut(t *testing.T) {
	for _, from := range allStates {
		if got, _ := transition(from, evDisable); got != dis {
			t.Errorf("disable from %s leads to %s", from, got)
		}
		seen := map[string]bool{from: true}
		todo := []string{from}
		for len(todo) > 0 {
			st := todo[0]
			todo = todo[1:]
			for _, ev := range allEvents {
				if next, ok := transition(st, ev); ok && !seen[next] {
					seen[next] = true
					todo = append(todo, next)
				}
			}
		}
		for _, to := range []string{reach, dis, fail} {
			if !seen[to] {
				t.Errorf("no way from %s to %s", from, to)
			}
		}
		left := false
		for _, ev := range allEvents {
			if next, ok := transition(from, ev); ok && next != from {
				left = true
			}
		}
		if !left {
			t.Errorf("%s has no event that leaves it", from)
		}
	}
}

// run applies the events one by one, as the manager's fire does.
func run(st string, evs ...event) string {
	for _, ev := range evs {
		if next, ok := transition(st, ev); ok {
			st = next
		}
	}
	return st
}

// managerAfterEnable is what the manager does after firing evEnable in
// state st, when every step works (ok) or when the backend does not start:
// the events that follow, up to reachable or failed.
func managerAfterEnable(st string, ok bool) []event {
	if onionUp(st) {
		// The onion is up with its self-checks: they settle it.
		if ok {
			return []event{evCheckOK}
		}
		return []event{evCheckFailed, evPublishFailed}
	}
	// starting: startBackend, then ensurePublished.
	if !ok {
		return []event{evBackendFailed}
	}
	return []event{evBackendUp, evOnionAdded, evUploaded, evCheckOK}
}

// TestEnableFromEveryState: enable, from every state, goes through
// starting (unless the onion is up already) and ends reachable, or failed
// when a step fails; never left in starting.
func TestEnableFromEveryState(t *testing.T) {
	for _, from := range allStates {
		st, _ := transition(from, evEnable)
		if !onionUp(from) && st != start {
			t.Errorf("enable from %s leads to %s, want %s", from, st, start)
		}
		if onionUp(from) && st != from {
			t.Errorf("enable from %s (onion up) leads to %s, want it to stay", from, st)
		}
		if got := run(st, managerAfterEnable(st, true)...); got != reach {
			t.Errorf("enable from %s, every step working: ends %s, want %s", from, got, reach)
		}
		if got := run(st, managerAfterEnable(st, false)...); got != fail {
			t.Errorf("enable from %s, a step failing: ends %s, want %s", from, got, fail)
		}
	}
}

// TestSetOptionSequences: what set-option does to a service, as the
// manager's events: success, failure rolled back, and the issue's
// sequence (a failed move to persistent storage, then enable).
func TestSetOptionSequences(t *testing.T) {
	for _, c := range []struct {
		name string
		from string
		evs  []event
		want string
	}{
		{"disabled service: value saved", dis, []event{evOptionSaved}, dis},
		{"disabled service: value refused", dis, []event{evOptionRolledBack}, dis},
		{"reachable, restart works", reach, []event{evRestart, evBackendUp, evOnionAdded, evUploaded, evCheckOK}, reach},
		{"reachable, new value fails, old one comes back", reach,
			[]event{evRestart, evBackendFailed, evRestart, evBackendUp, evOnionAdded, evOptionRolledBack, evCheckOK}, reach},
		{"reachable, old value fails too: failed", reach,
			[]event{evRestart, evBackendFailed, evRestart, evBackendFailed, evOptionRolledBack}, fail},
		{"then enable repairs it", fail, []event{evEnable, evBackendUp, evOnionAdded, evCheckOK}, reach},
		{"failed, a retry with the new value works", fail, []event{evRestart, evBackendUp, evOnionAdded, evCheckOK}, reach},
		{"backend exits and comes back", reach, []event{evBackendExited, evBackendRestarted, evCheckOK}, reach},
		{"tor restarts", reach, []event{evTorRestarted, evOnionAdded, evCheckOK}, reach},
		{"tor restarts, publication fails, then enable", reach, []event{evTorRestarted, evPublishFailed, evEnable, evOnionAdded, evCheckOK}, reach},
		{"unreachable, re-published", unr, []event{evCheckFailed, evOnionAdded, evUploaded, evCheckOK}, reach},
		{"enabled before start-at, then the time comes", dis, []event{evSchedule, evStartAt, evBackendUp, evOnionAdded, evUploaded, evCheckOK}, reach},
		{"scheduled, start-at moved, then cleared", dis, []event{evSchedule, evOptionSaved, evSchedule, evEnable, evBackendUp, evOnionAdded, evCheckOK}, reach},
		{"failed, enabled again before start-at", fail, []event{evSchedule, evStartAt, evBackendFailed}, fail},
		{"scheduled, disabled before the time", dis, []event{evSchedule, evDisable, evStartAt}, dis},
		{"reachable, stop-after runs out", reach, []event{evDisable}, dis},
	} {
		if got := run(c.from, c.evs...); got != c.want {
			t.Errorf("%s: %s then %s ends %s, want %s", c.name, c.from, evNames(c.evs), got, c.want)
		}
	}
}

func evNames(evs []event) string {
	var b []string
	for _, e := range evs {
		b = append(b, string(e))
	}
	return strings.Join(b, ", ")
}

// TestFireKeepsReasons: a change of state sets the reason, wakes the
// waiters and tells the watchers; an event that does not apply changes
// nothing.
func TestFireKeepsReasons(t *testing.T) {
	s := &service{def: &catalog.Service{Name: "web"}, state: reach, changed: make(chan struct{})}
	changed := s.changed
	s.fire(evBackendExited, "the backend exited (exit status 1); the daemon starts it again")
	if s.state != unr || !strings.Contains(s.err, "exit status 1") {
		t.Fatalf("after a backend exit: %s, %q", s.state, s.err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("a change of state did not wake the waiters")
	}
	s.fire(evBackendUp, "late")
	if s.state != unr || s.err == "late" {
		t.Fatalf("an event that does not apply changed the service: %s, %q", s.state, s.err)
	}
	s.fire(evDisable, "")
	if s.state != dis || s.err != "" {
		t.Fatalf("after disable: %s, %q", s.state, s.err)
	}
}

// TestBackendExitGoesThroughTheMachine: the supervisor's word on the
// running backend (it exited, it runs again) changes the service's state
// and asks for a self-check at once; the word on a backend that is no
// longer the service's changes nothing.
func TestBackendExitGoesThroughTheMachine(t *testing.T) {
	m := &Manager{}
	s := &service{def: &catalog.Service{Name: "web"}, state: reach, changed: make(chan struct{}), kick: make(chan struct{}, 1)}
	cur, old := &supervise.Process{}, &supervise.Process{}
	s.backend = &process{Process: cur}

	m.backendEvent(s, old, evBackendExited, "the backend exited (exit status 1); the daemon starts it again")
	if s.state != reach {
		t.Fatalf("an old backend's exit made the service %s", s.state)
	}
	m.backendEvent(s, cur, evBackendExited, "the backend exited (exit status 1); the daemon starts it again")
	if s.state != unr || !strings.Contains(s.err, "exited (exit status 1)") {
		t.Fatalf("after the backend exited: %s, %q", s.state, s.err)
	}
	m.backendEvent(s, cur, evBackendRestarted, "")
	select {
	case <-s.kick:
	default:
		t.Fatal("the restart did not ask for a self-check")
	}
	if s.state != unr {
		t.Fatalf("after the restart, before a check: %s", s.state)
	}
}

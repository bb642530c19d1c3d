package services

import "tails-server/internal/apitype"

// The lifecycle of a service is a small state machine. Its states are
// apitype's (the API's strings: disabled, scheduled, starting,
// address-ready, published, reachable, unreachable, failed); its events
// are what the manager does to a service or sees happen to it. Every
// change of a service's state goes through transition (service.fire), so
// that the table in state_test.go is the whole truth: from every state,
// disable leads to disabled and enable to reachable or failed.
//
// scheduled is a service enabled before its start-at time (timers.go):
// recorded enabled, nothing running, no onion; evStartAt starts it then.
// stop-after's end is a disable with its reason.

// event is something that happens to a service.
type event string

const (
	// evEnable: enable (or the daemon's start) asks for the service: its
	// backend starts unless it runs, its onion is added unless it is up.
	evEnable event = "enable"
	// evDisable: the backend stops and the onion is withdrawn.
	evDisable event = "disable"
	// evRestart: set-option restarts the backend with a new config, or
	// with the old one when the new one failed (the roll-back); the
	// onion is re-added once it runs.
	evRestart event = "set-option restart"
	// evOptionSaved: set-option saved a value that needs no restart
	// (autostart; client-auth re-adds the onion, an evOnionAdded).
	evOptionSaved event = "set-option saved"
	// evOptionRolledBack: set-option failed and its old value and config
	// are back; the state is the one the roll-back left.
	evOptionRolledBack event = "set-option rolled back"
	// evBackendUp: the backend passed its health check.
	evBackendUp event = "backend up"
	// evBackendFailed: the backend did not start (or the firewall
	// refused it); the reason says why.
	evBackendFailed event = "backend failed"
	// evBackendExited: the running backend exited; the supervisor starts
	// it again.
	evBackendExited event = "backend exited"
	// evBackendRestarted: the supervisor started the backend again.
	evBackendRestarted event = "backend restarted"
	// evOnionAdded: tor answered ADD_ONION: the address exists.
	evOnionAdded event = "onion added"
	// evPublishFailed: the onion could not be added; the reason says why.
	evPublishFailed event = "publish failed"
	// evUploaded: a descriptor reached a directory.
	evUploaded event = "descriptor uploaded"
	// evCheckOK: the self-check reached the service through its onion.
	evCheckOK event = "self-check ok"
	// evCheckFailed: the self-check did not reach it.
	evCheckFailed event = "self-check failed"
	// evTorRestarted: the tor that carries the onion came back (a new
	// control connection): the onion is added again on it.
	evTorRestarted event = "tor restarted"
	// evSchedule: enable before the service's start-at time: whatever
	// runs is stopped (the onion was not up) and it waits for the time.
	evSchedule event = "enable before start-at"
	// evStartAt: start-at came: the backend starts and the onion is
	// added, as enable does.
	evStartAt event = "start-at reached"
)

// onionUp reports whether, in state, the backend runs, the onion is added
// and self-checks are under way.
func onionUp(state string) bool {
	switch state {
	case apitype.StateAddressed, apitype.StatePublished, apitype.StateReachable, apitype.StateFailing:
		return true
	}
	return false
}

// transition returns the state that ev leads to from state; ok is false
// when ev cannot happen in state (a late event of a step that was
// stopped, which changes nothing).
func transition(state string, ev event) (next string, ok bool) {
	// What leads to the same place from every state.
	switch ev {
	case evDisable:
		return apitype.StateDisabled, true
	case evOptionSaved, evOptionRolledBack:
		return state, true
	}
	switch state {
	case apitype.StateDisabled:
		switch ev {
		case evEnable:
			return apitype.StateStarting, true
		case evSchedule:
			return apitype.StateScheduled, true
		}
	case apitype.StateScheduled:
		switch ev {
		case evSchedule:
			// A new start-at: still waiting.
			return apitype.StateScheduled, true
		case evEnable, evStartAt:
			// The time came, or start-at was cleared: start now.
			return apitype.StateStarting, true
		}
	case apitype.StateStarting:
		switch ev {
		case evSchedule:
			// Not up yet (no tor): it waits for start-at instead.
			return apitype.StateScheduled, true
		case evEnable, evRestart, evBackendUp, evBackendExited, evBackendRestarted, evTorRestarted:
			return apitype.StateStarting, true
		case evBackendFailed, evPublishFailed:
			return apitype.StateFailed, true
		case evOnionAdded:
			return apitype.StateAddressed, true
		}
	case apitype.StateAddressed, apitype.StatePublished, apitype.StateReachable, apitype.StateFailing:
		switch ev {
		case evEnable, evBackendRestarted:
			// Up already: the self-checks say the rest (a restarted
			// backend gets one at once).
			return state, true
		case evRestart, evTorRestarted:
			return apitype.StateStarting, true
		case evBackendFailed, evPublishFailed:
			return apitype.StateFailed, true
		case evOnionAdded:
			return apitype.StateAddressed, true
		case evUploaded:
			if state == apitype.StateAddressed {
				return apitype.StatePublished, true
			}
			return state, true
		case evCheckOK:
			return apitype.StateReachable, true
		case evCheckFailed, evBackendExited:
			// Not reachable yet, before the first success; after it,
			// unreachable (repairing).
			if state == apitype.StateReachable || state == apitype.StateFailing {
				return apitype.StateFailing, true
			}
			return state, true
		}
	case apitype.StateFailed:
		switch ev {
		case evSchedule:
			return apitype.StateScheduled, true
		case evEnable, evRestart, evTorRestarted:
			// Tried again: the backend starts, or the onion is added
			// once more.
			return apitype.StateStarting, true
		case evBackendFailed, evPublishFailed:
			return apitype.StateFailed, true
		case evOnionAdded:
			// The backend ran, only the publication had failed.
			return apitype.StateAddressed, true
		}
	}
	return state, false
}

// fire applies ev to the service's state, with why as the reason status
// shows. A change of state wakes up whoever waits for one and tells the
// progress watchers; staying in the same state only updates the reason
// when there is one (disable always sets it). Call with s.mu held.
func (s *service) fire(ev event, why string) {
	next, ok := transition(s.state, ev)
	if !ok {
		return
	}
	if next == s.state {
		if why != "" || ev == evDisable {
			s.err = why
		}
		return
	}
	s.setState(next, why)
}

package apitype

import "testing"

func TestProgressText(t *testing.T) {
	for _, c := range []struct {
		p    Progress
		want string
	}{
		{Progress{Step: StateAddressed, State: StateAddressed}, "onion address made; publishing it on the Tor network"},
		{Progress{Step: StateFailed + ": backend did not start: exit 1", State: StateFailed}, "failed: backend did not start: exit 1"},
		{Progress{Step: "ngircd already installed"}, "ngircd already installed"},
	} {
		if got := c.p.Text(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.p, got, c.want)
		}
	}
	// Every state has a sentence of its own.
	for _, st := range []string{StateDisabled, StateStarting, StateAddressed, StatePublished, StateReachable, StateFailing, StateFailed, StateScheduled} {
		if _, ok := stateSentences[st]; !ok {
			t.Errorf("state %q has no sentence", st)
		}
	}
}

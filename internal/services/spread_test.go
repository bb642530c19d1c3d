package services

import (
	"testing"

	"tails-server/internal/tor"
)

type countedTor struct{ i int }

func (countedTor) Conn() *tor.Conn   { return nil }
func (countedTor) SocksAddr() string { return "" }

type fakeTors struct {
	per      int
	launched int // highest index asked for, plus one
}

func (f *fakeTors) Tor(i int) Tor {
	f.launched = max(f.launched, i+1)
	return countedTor{i}
}
func (f *fakeTors) OnionsPerTor() int { return f.per }

// TestOnionsSpreadOverTors: each tor carries at most OnionsPerTor onions,
// a further tor is asked for only when the others are full, and a disabled
// service's place is taken by the next one.
func TestOnionsSpreadOverTors(t *testing.T) {
	tors := &fakeTors{per: 2}
	m := &Manager{tors: tors, svcs: map[string]*service{}}
	names := []string{"a", "b", "c", "d", "e"}
	for _, n := range names {
		m.svcs[n] = &service{torIndex: -1}
	}
	want := []int{0, 0, 1, 1, 2}
	for k, n := range names {
		if got := m.torOf(m.svcs[n]).(countedTor).i; got != want[k] {
			t.Fatalf("service %s on tor %d, want %d", n, got, want[k])
		}
	}
	if tors.launched != 3 {
		t.Fatalf("%d tors launched for 5 onions at 2 per tor, want 3", tors.launched)
	}
	// Asking again keeps the place.
	if got := m.torOf(m.svcs["c"]).(countedTor).i; got != 1 {
		t.Fatalf("service c moved to tor %d", got)
	}
	m.releaseTor(m.svcs["b"])
	m.svcs["f"] = &service{torIndex: -1}
	if got := m.torOf(m.svcs["f"]).(countedTor).i; got != 0 {
		t.Fatalf("after b was disabled, f went to tor %d, want b's place on tor 0", got)
	}

	one := &Manager{tors: OneTor{T: countedTor{0}}, svcs: m.svcs}
	for _, s := range m.svcs {
		s.torIndex = -1
	}
	for _, n := range names {
		if got := one.torOf(one.svcs[n]).(countedTor).i; got != 0 {
			t.Fatalf("one tor: service %s on tor %d", n, got)
		}
	}
}

package freeport

import (
	"net"
	"strconv"
	"testing"
)

// The ports a network is laid on are drawn below the kernel's ephemeral
// range, where no outgoing connection can take one between the check and
// tor's bind.
func TestPickBelowEphemeralRange(t *testing.T) {
	lo, hi := Range()
	ps, err := Pick(40)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ps {
		if p < lo || p >= hi {
			t.Errorf("port %d outside [%d, %d)", p, lo, hi)
		}
		if seen[p] {
			t.Errorf("port %d twice", p)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d not free after Pick: %v", p, err)
			continue
		}
		ln.Close()
	}
}

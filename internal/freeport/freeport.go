// Package freeport picks TCP ports on 127.0.0.1 for listeners that open
// later (tor's ports in the private network, a backend's local port):
// drawn below the kernel's ephemeral range, where no outgoing connection
// of another process can take one between the pick and the bind.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
)

// Pick returns n distinct free ports on 127.0.0.1, holding them all
// open until each is chosen so that none repeats. They are drawn at random
// below the kernel's ephemeral range (ip_local_port_range): a port the
// kernel picked for us there is free only until the next outgoing
// connection of any process takes it, and with several tors and tests at
// work that happened between our check and tor's bind ("Address already
// in use"). Below the range only a listener asking for that very port can
// take it.
func Pick(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	lo, hi := Range()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100*n {
			return nil, fmt.Errorf("no %d free ports between %d and %d on 127.0.0.1", n, lo, hi)
		}
		p := lo + rand.IntN(hi-lo)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		lns = append(lns, ln)
		ports = append(ports, p)
	}
	return ports, nil
}

// Range is where Pick draws from: from 10000 up to the start of
// the kernel's ephemeral range (32768 by default).
func Range() (lo, hi int) {
	lo, hi = 10000, 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	var start, end int
	if _, err := fmt.Sscan(string(b), &start, &end); err == nil && start > lo+1000 {
		hi = start
	}
	return lo, hi
}

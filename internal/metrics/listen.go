package metrics

import (
	"fmt"
	"net"
	"strconv"
)

// CheckListen validates a --metrics-listen address: host:port, the host
// a loopback address (or localhost) unless allowRemote.
func CheckListen(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--metrics-listen %q is not HOST:PORT: use for example 127.0.0.1:9100", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("--metrics-listen %q has no valid port: use a number from 0 to 65535", addr)
	}
	if allowRemote {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--metrics-listen %q is not a loopback address: use 127.0.0.1:PORT, or add --metrics-allow-remote to serve the metrics beyond this machine", addr)
	}
	return nil
}

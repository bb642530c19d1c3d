package torsup

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Torrc returns the lines of the daemon's own tor's configuration, beyond
// those the launcher adds (DataDirectory, ControlPort, cookie, log).
func (s *Supervisor) Torrc() []string {
	return s.torrc(s.cfg.JoinTorrc)
}

// torrc is Torrc with join, the lines that join the network (the
// private network's in testnet mode, the system tor's for a checker in
// system mode).
func (s *Supervisor) torrc(join []string) []string {
	var lines []string
	if s.cfg.Mode == Testnet || s.cfg.NetworkFrom != nil {
		lines = append(lines, join...)
	}
	if s.cfg.User != "" {
		lines = append(lines, "User "+s.cfg.User)
	}
	if s.cfg.Checker {
		return append(lines, checkerTorrc(s.DataDir(), s.cfg.Mode == Testnet)...)
	}
	if s.cfg.Mode == Testnet {
		// On loopback, circuits build in milliseconds, so tor learns a
		// very short build timeout; under a burst of descriptor uploads
		// (many onions coming back at once) we saw it reset that timeout
		// again and again ("network connection speed appears to have
		// changed"). A fixed timeout keeps its circuit decisions steady.
		lines = append(lines, "LearnCircuitBuildTimeout 0", "CircuitBuildTimeout 30")
	}
	// The SOCKS port listens on loopback only, on a free port, and tells
	// onion errors apart; it holds no client credential (the self-check
	// goes through the checker, see Config.Checker).
	// Vanguards-lite (prop. 333) protects onion services against guard
	// discovery; tor enables it by default, we say so explicitly.
	lines = append(lines, "SocksPort 127.0.0.1:auto ExtendedErrors", "VanguardsLiteEnabled 1")
	return append(lines, s.cfg.IsolationTorrc...)
}

// CheckerSocket is the name of the checker's SOCKS socket in its
// DataDirectory.
const CheckerSocket = "socks.sock"

// checkerTorrc is the checker's own part of its torrc: one SOCKS port, a
// unix socket in dataDir. Tor checks that the socket's directory is its
// user's and closed to others (no GroupWritable, no WorldWritable), so only
// root (the daemon) and tor's user can connect; no TCP port, which every
// local process could reach.
func checkerTorrc(dataDir string, testnet bool) []string {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	var lines []string
	if testnet {
		// As for the other tors of the private network (see torrc).
		lines = append(lines, "LearnCircuitBuildTimeout 0", "CircuitBuildTimeout 30")
	}
	return append(lines, "SocksPort unix:"+filepath.Join(abs, CheckerSocket)+" ExtendedErrors", "VanguardsLiteEnabled 1")
}

// networkOptions are the options by which a tor joins a network other than
// the public one with its defaults, or reaches it another way: a checker
// in system mode takes them from the system tor.
var networkOptions = []string{"TestingTorNetwork", "DirAuthority", "AlternateDirAuthority",
	"AlternateBridgeAuthority", "UseMicrodescriptors", "PathsNeededToBuildCircuits",
	"UseBridges", "Bridge", "ClientTransportPlugin", "Socks5Proxy", "HTTPSProxy"}

// networkLines waits for the tor of sup and returns the torrc lines with
// which another tor joins the same network. A tor that will not tell
// (a filtered control port) is taken to be on the public network.
func networkLines(ctx context.Context, sup *Supervisor) ([]string, error) {
	c, err := sup.WaitReady(ctx)
	if err != nil {
		return nil, err
	}
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conf, err := c.GetConf(gctx, networkOptions...)
	if err != nil {
		sup.cfg.Log.Warn("the system tor does not tell its network settings: the checker joins the public network", "err", err)
		return nil, nil
	}
	var lines []string
	for _, k := range networkOptions {
		for _, v := range conf[k] {
			if line, ok := networkLine(k, strings.TrimSpace(v)); ok {
				lines = append(lines, line)
			}
		}
	}
	return lines, nil
}

// networkLine is the torrc line for one GETCONF value, false for a default
// value (written out, some would not parse back: PathsNeededToBuildCircuits
// -1).
func networkLine(key, value string) (string, bool) {
	if value == "" || strings.ContainsAny(value, "\r\n\x00") {
		return "", false
	}
	switch key {
	case "TestingTorNetwork", "UseBridges":
		if value != "1" {
			return "", false
		}
	case "UseMicrodescriptors":
		if value != "0" {
			return "", false
		}
	case "PathsNeededToBuildCircuits":
		if f, err := strconv.ParseFloat(value, 64); err != nil || f <= 0 || f > 1 {
			return "", false
		}
	}
	return fmt.Sprintf("%s %s", key, value), true
}

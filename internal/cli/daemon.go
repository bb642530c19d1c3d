package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os/signal"
	"syscall"
	"time"

	"tails-server/internal/client"
	"tails-server/internal/daemon"
	"tails-server/internal/metrics"
	"tails-server/internal/testnet"
)

func runDaemon(e *env, args []string) error {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	var cfg daemon.Config
	fs.StringVar(&cfg.StateDir, "state", "", "state directory, the persistent root (required)")
	fs.StringVar(&cfg.VolatileDir, "volatile-dir", "", "root of amnesic services (default /run/tails-server/volatile-HASH)")
	fs.StringVar(&cfg.Network, "network", "", "testnet, system or public (required)")
	fs.StringVar(&cfg.TestnetDir, "testnet-dir", "", "testnet mode: directory of the private network")
	fs.StringVar(&cfg.TorControl, "tor-control", "", "system mode: tor's control port (127.0.0.1:9051) or socket path")
	fs.StringVar(&cfg.TorBinary, "tor", "tor", "tor binary (testnet and public modes)")
	fs.StringVar(&cfg.OnionbalanceBinary, "onionbalance", "", "onionbalance program of the balance masters (default /usr/sbin/onionbalance)")
	fs.StringVar(&cfg.Group, "group", "", "group whose members may use the API besides root (default "+daemon.DefaultGroup+", created when missing)")
	fs.BoolVar(&cfg.Firewall, "firewall", true, "keep nftables rules for allow-lan / allow-localhost (needs Debian's nftables)")
	fs.StringVar(&cfg.FirewallTable, "firewall-table", "", "name of the daemon's nftables table (default tails_server)")
	fs.StringVar(&cfg.CatalogDir, "catalog", "", "directory of third-party service descriptions (default /etc/tails-server/catalog.d)")
	fs.BoolVar(&cfg.NoBuiltinCatalog, "no-builtin-catalog", false, "serve only the services of --catalog, not the built-in ones (what `check` runs)")
	fs.DurationVar(&cfg.CheckInterval, "check-interval", 5*time.Minute, "time between reachability self-checks")
	fs.StringVar(&cfg.GUIListen, "gui-listen", "127.0.0.1:0", "the GUI's address on 127.0.0.1 (port 0: chosen by the system), or off")
	fs.StringVar(&cfg.IsolationPolicy, "isolation-policy", "", "stream isolation policy file, or none (default: the built-in Tails layout)")
	fs.IntVar(&cfg.IsolationPortOffset, "isolation-port-offset", 0, "shift the isolation policy's port numbers by N")
	fs.BoolVar(&cfg.IsolationConfine, "isolation-confine", false, "confine the built-in layout's browser in a network namespace (isolation run browser --confine); needs root")
	fs.IntVar(&cfg.OnionsPerTor, "onions-per-tor", 0, "onions one of the daemon's tors carries before it launches another (default 10; testnet and public modes)")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "serve GET /metrics (Prometheus text) on this TCP address, a loopback one (default: off)")
	fs.BoolVar(&cfg.MetricsAllowRemote, "metrics-allow-remote", false, "let --metrics-listen take an address other than loopback")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) {
		cfg.IsolationExplicit = cfg.IsolationExplicit || f.Name == "isolation-policy" || f.Name == "isolation-port-offset" || f.Name == "isolation-confine"
	})
	if len(pos) > 0 {
		return usageErr("daemon takes no arguments, got %q", pos[0])
	}
	if cfg.OnionsPerTor < 0 {
		return usageErr("--onions-per-tor must be at least 1, not %d", cfg.OnionsPerTor)
	}
	if cfg.MetricsListen != "" {
		if err := metrics.CheckListen(cfg.MetricsListen, cfg.MetricsAllowRemote); err != nil {
			return usageErr("%s", err.Error())
		}
	} else if cfg.MetricsAllowRemote {
		return usageErr("--metrics-allow-remote needs --metrics-listen ADDR")
	}
	if cfg.StateDir == "" {
		return usageErr("daemon needs --state DIR")
	}
	switch cfg.Network {
	case "testnet", "system", "public":
	case "":
		return usageErr("daemon needs --network testnet, system or public")
	default:
		return usageErr("unknown network %q: use testnet, system or public", cfg.Network)
	}
	cfg.Socket = client.SocketPath(e.socket)
	cfg.Log = slog.New(slog.NewTextHandler(e.stderr, nil))
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return daemon.Run(ctx, cfg)
}

func runTestnet(e *env, args []string) error {
	if len(args) > 0 && args[0] == "client" {
		return runTestnetClient(e, args[1:])
	}
	fs := flag.NewFlagSet("testnet", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory of the network (required)")
	base := fs.Int("base-port", 0, "lay ports out from this one (0: pick free ports)")
	timeout := fs.Duration("timeout", 180*time.Second, "up: give up after this long")
	tor := fs.String("tor", "tor", "tor binary")
	voting := fs.Duration("voting-interval", testnet.DefaultVotingInterval, "up: the authorities' voting interval (10s-60s; Onionbalance's --is-testnet wants 20s)")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	cmd, _ := lookup("testnet")
	if len(pos) != 1 {
		return usageErr("testnet takes %s", cmd.subList())
	}
	if _, ok := cmd.sub(pos[0]); !ok {
		return unknownVerb(cmd, pos[0])
	}
	if *dir == "" {
		return usageErr("testnet %s needs --dir DIR", pos[0])
	}
	switch pos[0] {
	case "up":
		ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		start := time.Now()
		env, err := testnet.Up(ctx, testnet.Options{
			Dir: *dir, BasePort: *base, Timeout: *timeout, TorBinary: *tor, VotingInterval: *voting,
			Progress: func(line string) { fmt.Fprintln(e.stderr, "testnet:", line) },
		})
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return errors.New("testnet up interrupted; everything it started was stopped")
			}
			return err
		}
		fmt.Fprintf(e.stderr, "testnet: ready in %.1f s\n", time.Since(start).Seconds())
		return printEnv(e, env)
	case "down":
		return testnet.Down(*dir)
	case "env":
		env, err := testnet.Load(*dir)
		if err != nil {
			return &exitError{code: ExitFailure, err: err, hint: "start the network with `tails-server testnet up --dir " + *dir + "`"}
		}
		return printEnv(e, env)
	}
	return unknownVerb(cmd, pos[0])
}

func printEnv(e *env, env *testnet.Env) error {
	if e.output == "json" {
		return e.print(env)
	}
	b, err := env.YAML()
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(b)
	return err
}

package cli

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"tails-server/internal/isobench"
	"tails-server/internal/isolation"
	"tails-server/internal/isoproxy"
	"tails-server/internal/testnet"
)

// defaultProxyListen is where `isolation proxy` listens without --listen:
// next to the browser's port 9150 (9151 is Tor Browser's control port).
const defaultProxyListen = "127.0.0.1:9152"

// proxyInfo is what `isolation proxy` prints once it listens.
type proxyInfo struct {
	Listen   string `json:"listen" yaml:"listen"`
	Upstream string `json:"upstream" yaml:"upstream"`
	App      string `json:"app,omitempty" yaml:"app,omitempty"`
	Mode     string `json:"mode" yaml:"mode"`
}

func isolationProxy(e *env, args []string) error {
	fs := flag.NewFlagSet("isolation proxy", flag.ContinueOnError)
	var pf policyFlags
	pf.add(fs)
	app := fs.String("app", "browser", "application whose SOCKS port (from the policy) the proxy forwards to")
	listen := fs.String("listen", defaultProxyListen, "address to listen on, loopback only (port 0: any free port)")
	mode := fs.String("mode", "site", "site: one isolation key per destination site (registrable domain); conn: one per client connection group (same SOCKS credentials, or one connection)")
	upstream := fs.String("upstream", "", "tor's SocksPort, overriding the app's port from the policy")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("isolation proxy takes no arguments, got %q", pos[0])
	}
	m, err := isoproxy.ParseMode(*mode)
	if err != nil {
		return usageErr("%v", err)
	}
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return &exitError{code: ExitUsage, err: fmt.Errorf("--listen %q: want a loopback address and port, such as %s", *listen, defaultProxyListen),
			hint: "the proxy has no authentication of its own, so it never listens beyond this machine"}
	}
	info := proxyInfo{Upstream: *upstream, App: *app, Mode: string(m)}
	if info.Upstream == "" {
		p, err := pf.load()
		if err != nil {
			return err
		}
		l, err := p.AppListener(*app)
		if err != nil {
			return usageErr("%v", err)
		}
		if info.Upstream, err = p.SocksAddr(*app, pf.offset); err != nil {
			return usageErr("%v", err)
		}
		if iso := isolation.Effective(l.Flags); !iso.SOCKSAuth {
			return &exitError{code: ExitFailure, err: fmt.Errorf("port %s of app %s has no IsolateSOCKSAuth: the proxy's keys would not isolate anything", l.Name, *app),
				hint: "give the port IsolateSOCKSAuth in the policy, or choose an app whose port has it (the built-in browser port does)"}
		} else if iso.DestAddr || iso.DestPort {
			fmt.Fprintf(e.stderr, "tails-server: warning: port %s isolates by destination too, so streams of one site do not share circuits\n", l.Name)
		}
	} else if _, _, err := net.SplitHostPort(info.Upstream); err != nil {
		return usageErr("--upstream %q: want HOST:PORT of tor's SocksPort", info.Upstream)
	}

	srv, err := isoproxy.New(isoproxy.Config{
		Upstream: info.Upstream,
		Mode:     m,
		Reserved: isolation.ReservedUsername,
		Log:      slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return &exitError{code: ExitFailure, err: fmt.Errorf("isolation proxy: %w", err), hint: "choose another address with --listen (port 0 picks a free one)"}
	}
	info.Listen = ln.Addr().String()
	if err := e.print(info); err != nil {
		ln.Close()
		return err
	}
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		srv.Close()
		<-done
		return nil
	case err := <-done:
		srv.Close()
		if errors.Is(err, isoproxy.ErrClosed) {
			return nil
		}
		return err
	}
}

func isolationBench(e *env, args []string) error {
	fs := flag.NewFlagSet("isolation bench", flag.ContinueOnError)
	dir := fs.String("testnet-dir", os.Getenv(testnet.EnvDirVar), "the private Tor network to measure on (default $"+testnet.EnvDirVar+"); never the public network")
	out := fs.String("out", "isolation-bench", "directory for results.json, table.md and chart.svg")
	runs := fs.Int("runs", 3, "runs per workload and policy (the table shows medians)")
	policies := fs.String("policies", "", "comma-separated policies to measure (default all: none,dest-addr,dest-addr+port,site-auth)")
	workloads := fs.String("workloads", "", "comma-separated workloads (default all: page-1,page-5,page-12,page-30,chat)")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("isolation bench takes no arguments, got %q", pos[0])
	}
	if *dir == "" {
		return &exitError{code: ExitUsage, err: errors.New("isolation bench needs a private Tor network: --testnet-dir DIR or $" + testnet.EnvDirVar),
			hint: "start one with `tails-server testnet up --dir DIR`"}
	}
	if *runs < 1 || *runs > 100 {
		return usageErr("--runs %d: want 1 to 100", *runs)
	}
	env, err := testnet.Load(*dir)
	if err != nil {
		return &exitError{code: ExitFailure, err: err, hint: "start the network with `tails-server testnet up --dir " + *dir + "`"}
	}
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := isobench.Run(ctx, isobench.Options{
		Env: env, Runs: *runs,
		Policies: splitList(*policies), Workloads: splitList(*workloads),
		Progress: func(line string) { fmt.Fprintln(e.stderr, "bench:", line) },
	})
	if err != nil {
		var ue *isobench.UnknownNameError
		if errors.As(err, &ue) {
			return usageErr("%v", err)
		}
		return err
	}
	if err := rep.WriteFiles(*out); err != nil {
		return err
	}
	if e.output == "json" {
		return e.print(rep)
	}
	if err := rep.WriteTable(e.stdout); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nwritten: %s\n", strings.Join([]string{
		filepath.Join(*out, "results.json"), filepath.Join(*out, "table.md"), filepath.Join(*out, "chart.svg")}, ", "))
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

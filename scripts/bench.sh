#!/usr/bin/env bash
# `make bench`: the performance figures of the README, on a private Tor
# network started here. BENCH (a regexp) and BENCHTIME (default 3x) choose;
# without BENCH the light benchmarks run BENCHTIME times and the heavy ones
# (fifty services, recovery, 100 MiB transfers, the 1 GiB files add and
# export/import, the self-check and metrics overheads) once. The flood has
# its own target (`make flood`: BENCH=Flood).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/testnet-lib.sh
start_testnet tails-server-bench
run() { go test -run '^$' -bench "$1" -benchtime "$2" -timeout 90m ./internal/e2e/; }
if [ -n "${BENCH:-}" ]; then
	run "$BENCH" "${BENCHTIME:-3x}"
else
	run 'TestnetUp|OnionPublication|DaemonRSS|Enable_' "${BENCHTIME:-3x}"
	run 'FiftyServices|Recovery|Fileshare|FilesAdd|SelfCheckOverhead|ExportImport|MetricsOverhead' 1x
	run 'GUIServicesFifty' 200x
	# Stream isolation: the front proxy against tor's SocksPort, then the
	# cost of each isolation policy (table and chart in bench-out/isolation).
	run 'IsolationProxy' "${BENCHTIME:-3x}"
	# Confined applications (needs root): start and bulk against unconfined.
	run 'Confine$' 5x
	go test -run '^$' -bench 'AddedConnectLatency' -benchtime 300x ./internal/isoproxy/
	bin/tails-server isolation bench --testnet-dir "$tmp/net" --runs 5 --out bench-out/isolation
fi

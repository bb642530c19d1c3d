#!/usr/bin/env bash
# `make balance`: the Onionbalance acceptance and its figures (failover,
# master reachable after create + 3 add against a plain service), on a
# private network of its own with the 20-second voting interval that
# onionbalance's --is-testnet timings assume: BALANCE_NET_DIR
# (/tmp/balance-net), ports from BALANCE_BASE_PORT (16000). Not part of
# `make test` (build tag balance): it takes several minutes.
# BALANCE_ROUNDS (5) kill -9 rounds give the failover median.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/testnet-lib.sh
dir=${BALANCE_NET_DIR:-/tmp/balance-net}
if [ -e "$dir/env.yaml" ]; then
	echo "balance.sh: a network runs in $dir already: stop it (bin/tails-server testnet down --dir $dir) or set BALANCE_NET_DIR" >&2
	exit 2
fi
start=$(date +%s.%N)
start_testnet_at "$dir" --base-port "${BALANCE_BASE_PORT:-16000}" --voting-interval 20s
echo "balance.sh: 20 s network up in $(echo "$(date +%s.%N) - $start" | bc) s" >&2
go test -tags balance -count=1 -v -timeout 60m -run 'TestBalanceAcceptance' ./internal/e2e/ | grep -E '^(=== RUN|--- |PASS|FAIL|ok)|FIGURE|round [0-9]|balance_accept_test' || { echo "balance.sh: FAIL" >&2; exit 1; }

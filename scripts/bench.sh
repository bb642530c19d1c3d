#!/usr/bin/env bash
# `make bench`: the performance figures of the README, on a private Tor
# network started here. BENCHTIME sets the iterations (default 3x).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d /tmp/tails-server-bench.XXXXXX)
cleanup() {
	bin/tails-server testnet down --dir "$tmp/net" || true
	rm -rf "$tmp"
}
trap cleanup EXIT
bin/tails-server testnet up --dir "$tmp/net" >/dev/null
export TAILS_TESTNET_DIR="$tmp/net" TAILS_SERVER_BIN="$PWD/bin/tails-server"
go test -run '^$' -bench "${BENCH:-.}" -benchtime "${BENCHTIME:-3x}" -timeout 60m ./internal/e2e/

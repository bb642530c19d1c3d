#!/usr/bin/env bash
# Issue 12's exposure and secrets campaigns (called by scripts/reliability.sh,
# `make reliability`): TestExposure probes every listening socket of the
# daemon, its tors and its backends from a second network namespace and as
# the user nobody; TestSecretsNeverLeak searches every log, output, API
# answer and process argument list of a scripted session for its keys and
# passwords. Needs root. Uses the private Tor network of TAILS_TESTNET_DIR
# if set, else starts one here. Prints the two figures (goal 0 each).
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/tails-server ./cmd/tails-server
export TAILS_SERVER_BIN="$PWD/bin/tails-server"
tmp=$(mktemp -d /tmp/tails-server-exposure.XXXXXX)
cleanup() {
	if [ -z "${own_net:-}" ]; then rm -rf "$tmp"; return; fi
	bin/tails-server testnet down --dir "$tmp/net" || true
	rm -rf "$tmp"
}
trap cleanup EXIT
if [ -z "${TAILS_TESTNET_DIR:-}" ]; then
	own_net=1
	bin/tails-server testnet up --dir "$tmp/net" >/dev/null
	export TAILS_TESTNET_DIR="$tmp/net"
fi
start=$(date +%s)
status=0
go test -count=1 -timeout 15m -v -run '^(TestExposure|TestSecretsNeverLeak)$' ./internal/e2e/ >"$tmp/out" 2>&1 || status=$?
grep -vE '^(exposure|secrets): ' "$tmp/out" || true
echo "== exposure and secrets ($(($(date +%s) - start)) s, go test exit $status)"
grep -E '^(exposure|secrets): ' "$tmp/out" || echo "no figures: the tests did not get that far" >&2
exit "$status"

#!/usr/bin/env bash
# The whole test suite, as `make test` runs it: static checks, then every
# package's tests with -race, the end-to-end ones sharing one private Tor
# network started here, then a few seconds of each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"

echo "== static checks"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...
staticcheck ./...

echo "== private Tor network"
tmp=$(mktemp -d /tmp/tails-server-test.XXXXXX)
cleanup() {
	bin/tails-server testnet down --dir "$tmp/net" || true
	rm -rf "$tmp"
}
trap cleanup EXIT
bin/tails-server testnet up --dir "$tmp/net" >/dev/null
export TAILS_TESTNET_DIR="$tmp/net"
export TAILS_SERVER_BIN="$PWD/bin/tails-server"

echo "== tests"
go test -race -count=1 -timeout 60m ./...

echo "== fuzz (${FUZZTIME:-5s} each)"
for target in $(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' internal | sed 's/^func //' | sort -u); do
	pkg=$(dirname "$(grep -rlE "^func $target\(" --include='*_test.go' internal | head -1)")
	echo "fuzz $target ($pkg)"
	go test -run='^$' -fuzz="^$target\$" -fuzztime="${FUZZTIME:-5s}" "./$pkg"
done

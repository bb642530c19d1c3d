#!/usr/bin/env bash
# `make test-package`: the Debian package's own test (TestDebPackage, build
# tag debtest: a debootstrapped Debian 12 tree, about 3 minutes), on a
# private Tor network started here. Not part of `make test`, to keep that
# under its time budget; run it after a change to packaging/ or scripts/
# *deb*.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d /tmp/tails-server-pkgtest.XXXXXX)
cleanup() {
	bin/tails-server testnet down --dir "$tmp/net" || true
	rm -rf "$tmp"
}
trap cleanup EXIT
bin/tails-server testnet up --dir "$tmp/net" >/dev/null
export TAILS_TESTNET_DIR="$tmp/net" TAILS_SERVER_BIN="$PWD/bin/tails-server"
go test -count=1 -tags debtest -run '^TestDebPackage$' -v -timeout 30m ./internal/e2e/

#!/usr/bin/env bash
# `make test-package`: the Debian package's own test (TestDebPackage, build
# tag debtest: a debootstrapped Debian 12 tree, about 3 minutes), on a
# private Tor network started here. Not part of `make test`, to keep that
# under its time budget; run it after a change to packaging/ or scripts/
# *deb*.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/testnet-lib.sh
start_testnet tails-server-pkgtest
go test -count=1 -tags debtest -run '^TestDebPackage$' -v -timeout 30m ./internal/e2e/

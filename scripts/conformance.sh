#!/usr/bin/env bash
# `make conformance`: every built-in description (services/*.yaml) and
# every one in the catalog dir (CATALOG_DIR, default
# /etc/tails-server/catalog.d) through `tails-server check`, each on a
# scratch daemon, all on one private Tor network (TAILS_TESTNET_DIR, or
# one started here and stopped at the end). Prints every trial line, each
# description's time and the total. Not part of `make test`.
#   SERVICES="web nginx" scripts/conformance.sh   only those names
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/tails-server
catalog=${CATALOG_DIR:-/etc/tails-server/catalog.d}

wanted() {
	[ -z "${SERVICES:-}" ] && return 0
	[[ " $SERVICES " == *" $(basename "$1" .yaml) "* ]]
}
files=()
shopt -s nullglob
for f in services/*.yaml "$catalog"/*.yaml; do
	wanted "$f" && files+=("$f")
done
if [ ${#files[@]} -eq 0 ]; then
	echo "conformance: no description to check" >&2
	exit 1
fi

net=${TAILS_TESTNET_DIR:-}
if [ -z "$net" ]; then
	tmp=$(mktemp -d /tmp/tails-conformance.XXXXXX)
	trap 'bin/tails-server testnet down --dir "$tmp/net" || true; rm -rf "$tmp"' EXIT
	bin/tails-server testnet up --dir "$tmp/net" >/dev/null
	net=$tmp/net
fi

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
start=$(date +%s.%N)
failed=()
for f in "${files[@]}"; do
	echo "== $f"
	s=$(date +%s.%N)
	if ! "$bin" check "$f" --network-dir "$net"; then
		failed+=("$f")
	fi
	echo "conformance: $f in $(elapsed "$s") s"
done
total=$(elapsed "$start")
echo "conformance: ${#files[@]} descriptions, ${#failed[@]} failed${failed:+ (${failed[*]})}, total $total s"
[ ${#failed[@]} -eq 0 ]

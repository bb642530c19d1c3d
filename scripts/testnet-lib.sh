# Sourced by the scripts that run Go tests on a private Tor network of
# their own (bench.sh, test-package.sh): start_testnet PREFIX starts one in
# a fresh temp dir, exports TAILS_TESTNET_DIR and TAILS_SERVER_BIN, and
# stops it and removes the dir when the script exits.
start_testnet() {
	tmp=$(mktemp -d "/tmp/$1.XXXXXX")
	trap 'bin/tails-server testnet down --dir "$tmp/net" || true; rm -rf "$tmp"' EXIT
	bin/tails-server testnet up --dir "$tmp/net" >/dev/null
	export TAILS_TESTNET_DIR="$tmp/net" TAILS_SERVER_BIN="$PWD/bin/tails-server"
}

# start_testnet_at DIR [testnet up flags...] starts a network in DIR
# (which must not hold a running one), exports TAILS_TESTNET_DIR and
# TAILS_SERVER_BIN, and stops it and removes DIR when the script exits.
start_testnet_at() {
	netdir=$1
	shift
	trap 'bin/tails-server testnet down --dir "$netdir" || true; rm -rf "$netdir"' EXIT
	bin/tails-server testnet up --dir "$netdir" "$@" >/dev/null
	export TAILS_TESTNET_DIR="$netdir" TAILS_SERVER_BIN="$PWD/bin/tails-server"
}

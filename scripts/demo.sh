#!/usr/bin/env bash
# `make demo`: a private Tor network on loopback, the daemon, and the
# built-in web service published as a v3 onion with client authorization.
# Prints the address and a credential, proves the page reachable with the
# demo's own client tor (`testnet client`), prints that tor's SOCKS port,
# its ClientOnionAuthDir and how to add another service's credential, and
# stays up until Ctrl-C (or SIGTERM, SIGHUP); then stops everything it
# started, even when its output is gone.
set -euo pipefail
cd "$(dirname "$0")/.."
# TAILS_SERVER_BIN and TAILS_DEMO_DIR point the demo at another binary and
# directory (the end-to-end test of the demo uses both). The network's
# ports are picked free, so the demo never clashes with another network.
bin=${TAILS_SERVER_BIN:-$PWD/bin/tails-server}
demo=${TAILS_DEMO_DIR:-$PWD/.demo}
mkdir -p "$demo"
chmod 700 "$demo"
demo=$(cd "$demo" && pwd)
export TAILS_SERVER_SOCKET=$demo/api.sock

# A closed output (`make demo | tee log`, tee gone at Ctrl-C) must not
# kill the script before it has stopped what it started: a write to it
# fails instead of raising SIGPIPE, and every message goes through say,
# which ignores a failed write.
trap '' PIPE
say() { { printf '%s\n' "$@"; } 2>/dev/null || true; }

# One demo per directory: a second would stop the first one's network.
if "$bin" list >/dev/null 2>&1; then
	say "demo: a demo already runs in $demo (its daemon answers on $TAILS_SERVER_SOCKET): stop it first (Ctrl-C where it runs)" >&2
	exit 1
fi

daemon_pid="" cleaned="" volatile=""
# cleanup stops the daemon (and with it the onions and its tors), then the
# private network and the demo's client tor, and only then reports. A
# second Ctrl-C (or a SIGTERM, SIGHUP) while it runs is ignored, by the
# script and by what it runs.
cleanup() {
	[ -n "$cleaned" ] && return
	cleaned=1
	trap '' INT TERM HUP
	local stopped="" failed=""
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -TERM "$daemon_pid" 2>/dev/null || true
		for _ in $(seq 300); do
			kill -0 "$daemon_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
		stopped="the daemon, "
	fi
	# Amnesic: what the daemon kept in its volatile root goes with it.
	if [ -n "${volatile:-}" ] && ! { [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; }; then
		rm -rf "$volatile" 2>/dev/null || true
	fi
	if "$bin" testnet down --dir "$demo/net" >>"$demo/cleanup.log" 2>&1; then
		stopped+="the private network and the client tor"
	else
		failed="demo: could not stop the private network: see $demo/cleanup.log"
	fi
	say "" "demo: stopped ${stopped%, }"
	[ -z "$failed" ] || say "$failed"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 129' HUP

"$bin" testnet down --dir "$demo/net" >/dev/null 2>&1 || true
# The daemon's volatile root (its tor's state, the onions of services
# without persistence) starts empty, as after a reboot: a tor state kept
# from the previous run's network, whose relays are gone, kept the
# daemon's tor from building circuits on the new one.
hash=$(printf '%s' "$demo" | sha256sum | cut -c1-12)
volatile=/run/tails-server/demo-$hash
rm -rf "$volatile"
# The state dir is root's, under /var/lib: the daemon refuses one in a tree
# another user could change (a checkout in a user's home).
state=/var/lib/tails-server/demo-$hash
# A table of its own, so that the demo never takes over the nftables table
# of a daemon that runs for real (tails_server).
table=tails_demo_$hash
say "demo: starting the private Tor network in $demo/net"
"$bin" testnet up --dir "$demo/net" >/dev/null

say "demo: starting the daemon (log: $demo/daemon.log)"
# The daemon ignores SIGHUP (a closed terminal's), which would end it at
# once: cleanup stops it in order, with SIGTERM.
(trap '' HUP; exec "$bin" daemon --state "$state" --volatile-dir "$volatile" --firewall-table "$table" --network testnet --testnet-dir "$demo/net" >"$demo/daemon.log" 2>&1) &
daemon_pid=$!
for _ in $(seq 100); do
	[ -S "$TAILS_SERVER_SOCKET" ] && break
	kill -0 "$daemon_pid" 2>/dev/null || { cat "$demo/daemon.log" 2>/dev/null || true; exit 1; }
	sleep 0.1
done

say "demo: enabling the web service"
"$bin" enable web
say "demo: starting the demo's client tor, an independent tor of the private network"
net=(testnet client --dir "$demo/net")
"$bin" "${net[@]}" start >/dev/null
# Its credential for web (client "demo", added if missing) into the client's
# ClientOnionAuthDir; the tor reloads it. If web does not answer through
# it in time, add says why and the page below says "not yet".
"$bin" "${net[@]}" add web >/dev/null || true
cred=$("$bin" client show web demo --format auth-private)
addr=$("$bin" -o json info web | sed -n 's/.*"onion_address": "\(.*\)".*/\1/p')
cjson=$("$bin" -o json "${net[@]}" env)
socks=$(printf '%s\n' "$cjson" | sed -n 's/.*"socks_addr": "\(.*\)".*/\1/p')
authdir=$(printf '%s\n' "$cjson" | sed -n 's/.*"client_onion_auth_dir": "\(.*\)".*/\1/p')
client_pid=$(printf '%s\n' "$cjson" | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')

say "demo: proving it with curl through the client tor"
page=""
for _ in $(seq 60); do
	if page=$(curl -s --max-time 20 --socks5-hostname "$socks" "http://$addr/"); then break; fi
	sleep 1
done
fetched=$(printf '%s' "$page" | grep -o '<h1>.*</h1>' || echo "(not yet: $("$bin" status web | grep state))")

{ cat <<MSG

  onion address:  $addr
  onion port:     80
  credential:     $cred
                  (the line a client's tor reads from a *.auth_private
                   file in its ClientOnionAuthDir)
  API socket:     $TAILS_SERVER_SOCKET
  state dir:      $state

  fetched through the onion by the demo's client tor:
    $fetched

  the demo's client tor (use it where docs/services/*.md say 127.0.0.1:9050):
    SOCKS port:          $socks
    ClientOnionAuthDir:  $authdir
                         (one SERVICE.auth_private file each; then
                          kill -HUP $client_pid to make the tor read them)

  try:  export TAILS_SERVER_SOCKET=$TAILS_SERVER_SOCKET
        $bin info web --details
        curl --socks5-hostname $socks http://$addr/
        $bin gui        (a one-time login file for the GUI, yours alone)

  another service, e.g. fileshare:
        $bin enable fileshare
        $bin testnet client --dir $demo/net add fileshare
    (puts fileshare's credential, of its client "demo", into the client
     tor's ClientOnionAuthDir, reloads that tor, prints the onion address)
        curl --socks5-hostname $socks http://ADDRESS.onion/

demo: running; press Ctrl-C to stop everything
MSG
} 2>/dev/null || true
wait "$daemon_pid"

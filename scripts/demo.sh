#!/usr/bin/env bash
# `make demo`: a private Tor network on loopback, the daemon, and the
# built-in web service published as a v3 onion with client authorization.
# Prints the address and a credential, proves the page reachable with an
# independent client tor, and stays up until Ctrl-C; then stops everything
# it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin/tails-server
demo=$PWD/.demo
mkdir -p "$demo"
chmod 700 "$demo"
export TAILS_SERVER_SOCKET=$demo/api.sock

daemon_pid="" client_pid=""
cleanup() {
	trap - INT TERM EXIT
	echo
	echo "demo: stopping"
	[ -n "$client_pid" ] && kill "$client_pid" 2>/dev/null
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	"$bin" testnet down --dir "$demo/net" || true
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM

"$bin" testnet down --dir "$demo/net" 2>/dev/null || true
echo "demo: starting the private Tor network in $demo/net"
"$bin" testnet up --dir "$demo/net" >/dev/null

echo "demo: starting the daemon (log: $demo/daemon.log)"
"$bin" daemon --state "$demo/state" --network testnet --testnet-dir "$demo/net" >"$demo/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
	[ -S "$TAILS_SERVER_SOCKET" ] && break
	kill -0 "$daemon_pid" 2>/dev/null || { cat "$demo/daemon.log"; exit 1; }
	sleep 0.1
done

echo "demo: enabling the web service"
"$bin" enable web
"$bin" client list web | grep -q '^- name: demo$' || "$bin" client add web demo >/dev/null
cred=$("$bin" client show web demo --format auth-private)
addr=$("$bin" -o json info web | sed -n 's/.*"onion_address": "\(.*\)".*/\1/p')

echo "demo: proving it with an independent client tor and curl"
cdir=$demo/client
rm -rf "$cdir"; mkdir -p "$cdir/auth"; chmod 700 "$cdir" "$cdir/auth"
printf '%s\n' "$cred" >"$cdir/auth/demo.auth_private"
chmod 600 "$cdir/auth/demo.auth_private"
{ cat "$demo/net/join.torrc"
  echo "DataDirectory $cdir/data"
  echo "SocksPort 127.0.0.1:auto"
  echo "ClientOnionAuthDir $cdir/auth"
  echo "Log notice file $cdir/notice.log"
  echo "__OwningControllerProcess $$"
} >"$cdir/torrc"
tor -f "$cdir/torrc" --ignore-missing-torrc >/dev/null 2>&1 &
client_pid=$!
socks_port=""
for _ in $(seq 300); do
	socks_port=$(sed -n 's/.*Socks listener listening on port \([0-9]*\).*/\1/p' "$cdir/notice.log" 2>/dev/null | tail -1 || true)
	[ -n "$socks_port" ] && break
	sleep 0.1
done
page=""
for _ in $(seq 60); do
	if page=$(curl -s --max-time 20 --socks5-hostname "127.0.0.1:$socks_port" "http://$addr/"); then break; fi
	sleep 1
done

cat <<MSG

  onion address:  $addr
  onion port:     80
  credential:     $cred
                  (the line a client's tor reads from a *.auth_private
                   file in its ClientOnionAuthDir)
  API socket:     $TAILS_SERVER_SOCKET
  state dir:      $demo/state

  fetched through the onion by an independent client:
    $(printf '%s' "$page" | grep -o '<h1>.*</h1>' || echo "(not yet: $("$bin" status web | grep state))")

  try:  export TAILS_SERVER_SOCKET=$TAILS_SERVER_SOCKET
        $bin info web --details
        curl --socks5-hostname 127.0.0.1:$socks_port http://$addr/
        $bin gui        (a one-time login file for the GUI, yours alone)

demo: running; press Ctrl-C to stop everything
MSG
wait "$daemon_pid"

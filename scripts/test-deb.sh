#!/usr/bin/env bash
# Installs the .deb into a clean Debian 12 tree and checks what it
# promises (run by TestDebPackage in internal/e2e, build tag debtest, as root: `make test-package`):
#   scripts/test-deb.sh [DEB]     (default: build one with build-deb.sh)
# The tree is debootstrapped (minbase, and systemd as on any Debian 12
# machine) from the machine's Debian mirror (DEB_MIRROR overrides it) into
# a temporary directory, or unpacked from the tarball of an earlier one; the package goes
# in with `dpkg -i` then `apt-get install -f`, a policy-rc.d denying every
# service start (the tree's tor must never join the public network).
# Then: lintian has no error; the group exists; the man page opens; bash
# completion completes commands, and service names from the daemon; zsh
# loads its completion and fish completes commands;
# `systemd-analyze verify` accepts the installed unit, whose exposure
# score (`systemd-analyze security`) stays at 5.0 or below; the daemon, started
# exactly as the unit's ExecStart= says with $DAEMON_ARGS from
# /etc/default/tails-server (where the test adds the flags that join
# $TAILS_TESTNET_DIR's private network), serves `tails-server list` to a
# member of the group and refuses a non-member; a reinstall (upgrade)
# keeps the state and an edited conffile; `apt-get remove` keeps
# /var/lib/tails-server and the conffiles; `apt-get purge` removes them.
# Everything is removed at the end, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
	echo "test-deb: FAIL: $*" >&2
	exit 1
}
step() { echo "test-deb: $*"; }

[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot, mounts)"
tnet=${TAILS_TESTNET_DIR:-}
[ -n "$tnet" ] && [ -d "$tnet" ] || fail "TAILS_TESTNET_DIR must name a running private network (tails-server testnet up --dir DIR)"
tnet=$(readlink -f "$tnet")
for p in debootstrap lintian systemd-analyze; do
	command -v "$p" >/dev/null || fail "$p is missing: scripts/deps.sh test installs it"
done

deb=${1:-}
if [ -z "$deb" ]; then
	step "building the package"
	deb=$(scripts/build-deb.sh)
fi
deb=$(readlink -f "$deb")

mirror=${DEB_MIRROR:-$(sed -n 's/^URIs: *\(.*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
mirror=${mirror:-http://deb.debian.org/debian}

lintian_pid=""
root=$(mktemp -d /tmp/tails-server-deb.XXXXXX)
# lintian, while the tree is being made.
lintian "$deb" >"$root.lintian" 2>&1 &
lintian_pid=$!
table="tsdeb$$"
daemon_pid=""
mounted=()
# in_tree prints the pids of the processes whose root is the tree.
in_tree() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && echo "${p#/proc/}"
	done
	return 0
}
cleanup() {
	set +e
	kill "$lintian_pid" 2>/dev/null
	if [ -n "$daemon_pid" ]; then
		kill -TERM "$daemon_pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$daemon_pid" 2>/dev/null
	fi
	# Whatever still runs in the tree (its tor), found by its root.
	for p in $(in_tree); do kill -KILL "$p"; done
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount -l "${mounted[i]}"
	done
	command -v nft >/dev/null && nft delete table inet "$table" 2>/dev/null
	rm -rf --one-file-system "$root"
	rm -f "$root.lintian"
}
trap cleanup EXIT

clean_env=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive)
in_root() { chroot "$root" "${clean_env[@]}" "$@"; }
mnt() {
	mkdir -p "$2"
	mount "${@:3}" "$1" "$2"
	mounted+=("$2")
}

t0=$SECONDS
# The debootstrapped tree is kept as a tarball (in dist/, the build's own
# folder, not the machine's): later runs start from the same clean tree
# in seconds. DEB_TEST_CACHE= (empty) always debootstraps.
cache=${DEB_TEST_CACHE-dist/debootstrap-bookworm-minbase.tar}
if [ -n "$cache" ] && [ -s "$cache" ]; then
	step "clean Debian 12 tree from $cache (made by debootstrap; rm it to make a new one)"
	tar -xpf "$cache" --numeric-owner -C "$root"
else
	step "debootstrap bookworm (minbase + systemd) from $mirror into $root"
	debootstrap --variant=minbase --include=systemd bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
		{ tail -5 "$root.debootstrap.log" >&2; rm -f "$root.debootstrap.log"; fail "debootstrap failed"; }
	rm -f "$root.debootstrap.log"
	if [ -n "$cache" ]; then
		mkdir -p "$(dirname "$cache")"
		tar -cpf "$cache.tmp" --numeric-owner -C "$root" . && mv "$cache.tmp" "$cache"
	fi
fi
chmod 0755 "$root" # as / is: the daemon's tor user must get through
step "tree ready in $((SECONDS - t0)) s"

lintian_rc=0
wait "$lintian_pid" || lintian_rc=$?
lintian_pid=""
lint=$(grep -v 'running with root privileges' "$root.lintian" || true)
step "lintian $(basename "$deb") (exit $lintian_rc)${lint:+:
$lint}"
if [ "$lintian_rc" -ne 0 ] || grep -q '^E:' <<<"$lint"; then
	fail "lintian reports errors"
fi
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mnt proc "$root/proc" -t proc
mnt /dev "$root/dev" --bind
mnt /dev/pts "$root/dev/pts" --bind
mnt "$tnet" "$root$tnet" --bind

step "dpkg -i, then apt-get install -f"
cp "$deb" "$root/tmp/"
in_root apt-get update -q >/dev/null
if in_root dpkg -i "/tmp/$(basename "$deb")" >/dev/null 2>&1; then
	fail "dpkg -i succeeded without tor: the Depends are missing"
fi
in_root apt-get install -f -y -q --no-install-recommends -o Dpkg::Options::=--force-confold >"$root/tmp/apt.log" 2>&1 || { tail -20 "$root/tmp/apt.log" >&2; fail "apt-get install -f failed"; }
in_root dpkg-query -W -f '${Status}\n' tails-server | grep -q 'install ok installed' || fail "tails-server is not installed"
in_root dpkg-query -W -f '${Status}\n' tor | grep -q 'install ok installed' || fail "tor (Depends) is not installed"
binsize=$(stat -c %s "$root/usr/bin/tails-server")
step "installed with its dependencies in $((SECONDS - t0)) s (.deb $(stat -c %s "$deb") bytes, /usr/bin/tails-server $binsize bytes)"

pkgver=$(in_root dpkg-query -W -f '${Version}' tails-server)
[ "$(in_root tails-server version)" = "tails-server ${pkgver%-*}" ] || fail "tails-server version says '$(in_root tails-server version)', not the package's ${pkgver%-*}"
in_root getent group tails-server >/dev/null || fail "the group tails-server does not exist"
[ -L "$root/etc/systemd/system/multi-user.target.wants/tails-server.service" ] || fail "the unit is not enabled"
[ -d "$root/etc/tails-server/catalog.d" ] || fail "/etc/tails-server/catalog.d is missing"

[ -e "$root/usr/share/man/man1/tails-server.1.gz" ] || fail "the package has no man page"
in_root apt-get install -y -q --no-install-recommends man-db >/dev/null
in_root man -P cat tails-server 2>/dev/null | grep -q 'EXIT STATUS' || fail "man tails-server does not open"
step "man tails-server opens"

step "systemd-analyze verify"
systemd-analyze verify --root="$root" --man=no tails-server.service || fail "systemd-analyze verify refuses the unit"
# The sandbox, measured: systemd's exposure score (0 safest, 10 none),
# which must stay at 5.0 or below (4.5 when written).
exposure=$(systemd-analyze security --offline=yes --root="$root" --threshold=50 tails-server.service 2>&1) ||
	fail "the unit's exposure is above 5.0: $(tail -1 <<<"$exposure")"
step "systemd-analyze security: $(sed -n 's/^.*Overall exposure level for tails-server.service: //p' <<<"$exposure")"

# The daemon, as systemd would start it: ExecStart= with $DAEMON_ARGS
# from the EnvironmentFile, split on white space as systemd splits an
# unbraced $VAR; StateDirectory= and RuntimeDirectory= made first.
unit="$root/usr/lib/systemd/system/tails-server.service"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ "$(grep -c '^ExecStart=' "$unit")" -eq 1 ] || fail "the unit has not exactly one ExecStart="
grep -q '^EnvironmentFile=-/etc/default/tails-server$' "$unit" || fail "the unit does not read /etc/default/tails-server"
cat >>"$root/etc/default/tails-server" <<EOF
# Added by scripts/test-deb.sh: the private network on loopback.
DAEMON_ARGS="--network testnet --testnet-dir $tnet --firewall-table $table --check-interval 20s"
EOF
daemon_args=$(in_root sh -c '. /etc/default/tails-server && printf %s "$DAEMON_ARGS"')
argv=()
read -ra words <<<"$exec_start"
for w in "${words[@]}"; do
	case "$w" in
	'$DAEMON_ARGS') read -ra extra <<<"$daemon_args"; argv+=("${extra[@]}") ;;
	*'$'*) fail "ExecStart= has a variable this test does not expand: $w" ;;
	*) argv+=("$w") ;;
	esac
done
start_daemon() {
	step "starting: ${argv[*]}"
	for d in var/lib/tails-server run/tails-server; do
		mkdir -p "$root/$d"
		chmod 0711 "$root/$d"
	done
	# Not through in_root: $! must be the daemon's pid (chroot and env
	# exec it), not a subshell's.
	chroot "$root" "${clean_env[@]}" "${argv[@]}" >"$root/tmp/daemon.log" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 300); do
		[ -S "$root/run/tails-server/api.sock" ] && in_root tails-server list >/dev/null 2>&1 && return
		kill -0 "$daemon_pid" 2>/dev/null || { cat "$root/tmp/daemon.log" >&2; fail "the daemon exited"; }
		sleep 0.2
	done
	cat "$root/tmp/daemon.log" >&2
	fail "the daemon does not answer on /run/tails-server/api.sock"
}
# stop_daemon does what systemd's stop does (KillMode=mixed): SIGTERM.
stop_daemon() {
	kill -TERM "$daemon_pid"
	wait "$daemon_pid" || true
	daemon_pid=""
	# The daemon stops what it started (its tor) before it exits.
	left=$(in_tree)
	[ -z "$left" ] || fail "processes left running after the daemon stopped: $(ps -o args= -p "$left" | tr '\n' ';')"
	# As RuntimeDirectory= does when the unit stops.
	rm -rf "$root/run/tails-server"
}
start_daemon

in_root useradd --create-home member
in_root adduser --quiet member tails-server
as_member() { in_root setpriv --reuid=member --regid=member --init-groups env HOME=/home/member "$@"; }
list=$(as_member tails-server list) || { cat "$root/tmp/daemon.log" >&2; fail "tails-server list as a member of the group failed"; }
grep -q '^ *- *name: web$\|name: web' <<<"$list" || fail "tails-server list does not show the built-in web service: $list"
step "tails-server list, as a member of the group: $(grep -c 'name:' <<<"$list") services"
if in_root setpriv --reuid=nobody --regid=nogroup --clear-groups tails-server list >/dev/null 2>&1; then
	fail "a user outside the group may use the API"
fi

# Completion, from the installed file: commands, and service names that
# the script asks the daemon for.
comp=/usr/share/bash-completion/completions/tails-server
words=$(as_member bash -c "source $comp; COMP_WORDS=(tails-server li); COMP_CWORD=1; _tails_server; printf '%s\n' \"\${COMPREPLY[@]}\"")
[ "$words" = list ] || fail "bash completion of 'tails-server li' gave '$words', not list"
words=$(as_member bash -c "source $comp; COMP_WORDS=(tails-server enable we); COMP_CWORD=2; _tails_server; printf '%s\n' \"\${COMPREPLY[@]}\"")
[ "$words" = web ] || fail "bash completion of 'tails-server enable we' gave '$words', not web (from the daemon)"
step "bash completion completes commands and the daemon's service names"
for f in /usr/share/zsh/vendor-completions/_tails-server /usr/share/fish/vendor_completions.d/tails-server.fish; do
	[ -e "$root$f" ] || fail "the package has no $f"
done
in_root apt-get install -y -q --no-install-recommends zsh >/dev/null
in_root zsh -c 'autoload -U compinit && compinit -u && (( $+_comps[tails-server] ))' || fail "zsh does not load the completion"
step "zsh loads its completion"
in_root apt-get install -y -q --no-install-recommends fish >/dev/null
in_root fish -c 'complete -C "tails-server li"' | grep -q '^list' || fail "fish does not complete tails-server li"
step "fish completes commands"

stop_daemon
[ -n "$(ls -A "$root/var/lib/tails-server")" ] || fail "the daemon left no state in /var/lib/tails-server"
touch "$root/var/lib/tails-server/kept-by-test"

# An upgrade: the same package with a higher version.
step "upgrade to a newer version keeps the state and the edited conffile"
repack=$(mktemp -d "$root/tmp/repack.XXXXXX")
dpkg-deb -R "$deb" "$repack/pkg"
version=$(sed -n 's/^Version: //p' "$repack/pkg/DEBIAN/control")
sed -i "s/^Version: .*/Version: $version+1/" "$repack/pkg/DEBIAN/control"
dpkg-deb -b --root-owner-group "$repack/pkg" "$root/tmp/newer.deb" >/dev/null
in_root dpkg -i --force-confold /tmp/newer.deb >/dev/null
[ "$(in_root dpkg-query -W -f '${Version}' tails-server)" = "$version+1" ] || fail "the upgrade to $version+1 did not happen"
[ -e "$root/var/lib/tails-server/kept-by-test" ] || fail "the upgrade lost /var/lib/tails-server"
grep -q 'scripts/test-deb.sh' "$root/etc/default/tails-server" || fail "the upgrade replaced the edited /etc/default/tails-server"
in_root getent group tails-server >/dev/null || fail "the upgrade lost the group"
start_daemon
as_member tails-server list >/dev/null || fail "after the upgrade, tails-server list as a member failed"
stop_daemon

step "apt-get remove keeps the state and the conffiles"
in_root apt-get remove -y -q tails-server >/dev/null
[ ! -e "$root/usr/bin/tails-server" ] || fail "remove left /usr/bin/tails-server"
[ -e "$root/var/lib/tails-server/kept-by-test" ] || fail "remove deleted /var/lib/tails-server"
[ -e "$root/etc/default/tails-server" ] || fail "remove deleted the conffile /etc/default/tails-server"

step "installed again after remove: unmasked, enabled, on the kept state"
in_root dpkg -i --force-confold /tmp/newer.deb >/dev/null
[ "$(readlink "$root/etc/systemd/system/tails-server.service")" != /dev/null ] || fail "the reinstalled unit is still masked"
[ -L "$root/etc/systemd/system/multi-user.target.wants/tails-server.service" ] || fail "the reinstalled unit is not enabled"
[ -e "$root/var/lib/tails-server/kept-by-test" ] || fail "the reinstall lost /var/lib/tails-server"

step "apt-get purge removes them"
in_root apt-get purge -y -q tails-server >/dev/null
[ ! -e "$root/var/lib/tails-server" ] || fail "purge left /var/lib/tails-server"
[ ! -e "$root/etc/default/tails-server" ] || fail "purge left /etc/default/tails-server"
[ ! -e "$root/etc/tails-server" ] || fail "purge left /etc/tails-server"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/tails-server.service" ] || fail "purge left the unit enabled"

step "passed in $((SECONDS - t0)) s"

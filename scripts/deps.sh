#!/usr/bin/env bash
# Installs what tails-server needs, idempotently: Debian packages with
# apt-get (only those missing), Go modules, and, for tests, staticcheck.
#   scripts/deps.sh run    what `make demo` needs (tor)
#   scripts/deps.sh test   what `make test` needs: tor, curl, the catalog's
#                          servers and clients (dokuwiki with php-cgi and
#                          php-cli), chromium, zsh and fish (completion
#                          tests), groff and man-db (man page), WebKitGTK
#                          4.1 (to build and run the window), Xvfb,
#                          ImageMagick and x11-utils (its test), staticcheck,
#                          what the package test uses (lintian,
#                          debootstrap, systemd-analyze), and for
#                          `make bench` onionshare-cli (the benchmark of
#                          fileshare against OnionShare)
# Fails (non-zero) if something cannot be installed: with CI=true the tests
# must never turn a missing dependency into a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-run}
# program -> Debian package
declare -A need=([tor]=tor [tor-gencert]=tor [curl]=curl)
if [ "$what" = test ]; then
	need+=([nc]=netcat-openbsd [nft]=nftables [ip]=iproute2 [setpriv]=util-linux [lua5.4]=lua5.4 [luac5.4]=lua5.4 [lighttpd]=lighttpd [nginx]=nginx
		[torsocks]=torsocks [chromium]=chromium [murmurd]=mumble-server [infinoted]=infinoted
		[sshd]=openssh-server [sftp]=openssh-client [ssh-keygen]=openssh-client [prosody]=prosody [prosodyctl]=prosody [ngircd]=ngircd
		[openssl]=openssl [unzip]=unzip [zsh]=zsh [fish]=fish [groff]=groff [man]=man-db [strace]=strace [php-cgi]=php-cgi [php]=php-cli
		[lintian]=lintian [debootstrap]=debootstrap [systemd-analyze]=systemd
		[onionshare-cli]=onionshare-cli [age]=age
		[onionbalance]=onionbalance
		[Xvfb]=xvfb [import]=imagemagick [identify]=imagemagick [xwininfo]=x11-utils [pkg-config]=pkg-config)
fi

missing=()
for prog in "${!need[@]}"; do
	command -v "$prog" >/dev/null 2>&1 || missing+=("${need[$prog]}")
done
# Packages without a program to look for: file -> Debian package.
declare -A files=()
if [ "$what" = test ]; then
	files+=([/usr/share/dokuwiki/doku.php]=dokuwiki
		[/usr/include/webkitgtk-4.1/webkit2/webkit2.h]=libwebkit2gtk-4.1-dev)
fi
for f in "${!files[@]}"; do
	[ -e "$f" ] || missing+=("${files[$f]}")
done
if [ ${#missing[@]} -gt 0 ]; then
	# php-cgi first: dokuwiki needs "php", which apt would otherwise
	# satisfy with Apache's module.
	pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | sed '/^php-cgi$/d' | tr '\n' ' ')
	case " ${missing[*]} " in *" php-cgi "*) pkgs="php-cgi $pkgs" ;; esac
	echo "deps: installing Debian packages: $pkgs"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	# Never let the package start a system tor that would reach the
	# public network: deny service starts during the install.
	guard=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
		$sudo chmod 755 /usr/sbin/policy-rc.d
		guard=1
	fi
	trap '[ -n "$guard" ] && $sudo rm -f /usr/sbin/policy-rc.d' EXIT
	$sudo apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $pkgs
fi

go mod download

if [ "$what" = test ]; then
	gobin=$(go env GOPATH)/bin
	if ! [ -x "$gobin/staticcheck" ]; then
		echo "deps: installing staticcheck"
		go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	fi
fi

for prog in "${!need[@]}"; do
	command -v "$prog" >/dev/null 2>&1 || { echo "deps: $prog still missing after install" >&2; exit 1; }
done
for f in "${!files[@]}"; do
	[ -e "$f" ] || { echo "deps: $f still missing after install" >&2; exit 1; }
done

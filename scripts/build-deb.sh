#!/usr/bin/env bash
# Builds dist/tails-server_VERSION_ARCH.deb (what `make deb` runs): a
# static binary (CGO_ENABLED=0, -trimpath), its completions and man page
# when the binary can generate them, the systemd unit, /etc/default and
# the maintainer scripts of packaging/, packed by nfpm (packaging/nfpm.yaml).
# VERSION: `git describe --tags` when HEAD is tagged vX, else the VERSION
# file followed by ~gitDATE.COMMIT (so a later release sorts above it).
# Prints the .deb's path.
set -euo pipefail
cd "$(dirname "$0")/.."

NFPM=${NFPM:-github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2}

base=$(tr -d ' \n' <VERSION)
if tag=$(git describe --tags --exact-match --match 'v*' 2>/dev/null); then
	version=${tag#v}
elif commit=$(git rev-parse --short=7 HEAD 2>/dev/null); then
	version="$base~git$(git log -1 --format=%cd --date=format:%Y%m%d).$commit"
else
	version="$base"
fi
arch=$(go env GOARCH)
# Debian's name for the architectures Go builds.
case "$arch" in
386) debarch=i386 ;;
arm) debarch=armhf ;;
*) debarch=$arch ;;
esac
# The changelog's date: the commit's, so that a rebuild is the same.
when=$(git log -1 --format=%cD 2>/dev/null || date -R)

stage=dist/stage
rm -rf "$stage"
mkdir -p "$stage"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X tails-server/internal/daemon.Version=$version" \
	-o "$stage/tails-server" ./cmd/tails-server
bin="$stage/tails-server"

# The completion scripts run /usr/bin/tails-server; the man page comes
# from the same command table.
for sh in bash zsh fish; do
	"$bin" completion "$sh" --bin /usr/bin/tails-server >"$stage/completion.$sh"
done
"$bin" docs man - >"$stage/tails-server.1"
gzip -9n <"$stage/tails-server.1" >"$stage/tails-server.1.gz"

cfg="$stage/nfpm.yaml"
cp packaging/nfpm.yaml "$cfg"
add() { printf '  - src: %s\n    dst: %s\n    file_info: {mode: 0644}\n' "$1" "$2" >>"$cfg"; }
add "$stage/completion.bash" /usr/share/bash-completion/completions/tails-server
add "$stage/completion.zsh" /usr/share/zsh/vendor-completions/_tails-server
add "$stage/completion.fish" /usr/share/fish/vendor_completions.d/tails-server.fish
add "$stage/tails-server.1.gz" /usr/share/man/man1/tails-server.1.gz
if [ -f packaging/onion-grater/tails-server.yml ]; then
	printf '  - src: %s\n    dst: %s\n    type: config\n    file_info: {mode: 0644}\n' \
		packaging/onion-grater/tails-server.yml /etc/onion-grater.d/tails-server.yml >>"$cfg"
fi

{
	printf 'tails-server (%s-1) unstable; urgency=medium\n\n' "$version"
	printf '  * Built from commit %s of the tails-server repository.\n\n' "$(git rev-parse --short=7 HEAD 2>/dev/null || echo unknown)"
	printf ' -- tails-server developers <tails-server@users.noreply.github.com>  %s\n' "$when"
} | gzip -9n >"$stage/changelog.Debian.gz"

out="dist/tails-server_${version}-1_${debarch}.deb"
rm -f dist/tails-server_*.deb
DEB_VERSION=$version DEB_ARCH=$debarch go run "$NFPM" package --config "$cfg" --packager deb --target "$out" >&2
echo "$out"

# tails-server: `make demo` and `make test` are the whole quick start.
SHELL := /bin/bash
BIN   := bin/tails-server
WINDOW := bin/tails-server-gui
GO    ?= go
FUZZTIME ?= 5s

.PHONY: all build deb test-package window demo test check unit fuzz bench flood reliability conformance balance clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/tails-server

# The Debian package: dist/tails-server_VERSION_ARCH.deb, built with nfpm
# (docs/packaging.md says what it holds and why).
deb:
	scripts/build-deb.sh

# The package's own test (not part of `make test`): the .deb installed
# into a debootstrapped Debian 12 tree, its promises checked.
test-package:
	scripts/deps.sh test
	$(MAKE) --no-print-directory build
	scripts/test-package.sh

# The desktop window (cgo, WebKitGTK 4.1: Debian's libwebkit2gtk-4.1-dev),
# a program of its own so that tails-server stays static and CGO-free.
window:
	CGO_ENABLED=1 $(GO) build -o $(WINDOW) ./cmd/tails-server-gui

# A private Tor network on loopback, the daemon, and the web service
# published as an onion; stays up until Ctrl-C.
demo:
	scripts/deps.sh run
	$(MAKE) --no-print-directory build
	scripts/demo.sh

# The whole suite: static checks, unit tests, the end-to-end tests on one
# shared private Tor network, with -race, then a few seconds of each fuzzer.
test:
	scripts/deps.sh test
	$(MAKE) --no-print-directory build window
	scripts/test.sh

bench:
	scripts/deps.sh test
	$(MAKE) --no-print-directory build window
	scripts/bench.sh

# The flood benchmark (issue 16; not part of `make test` nor `make bench`):
# attacker client tors against web, pow on/off, max-streams, measured by a
# legitimate client (FLOOD_WINDOW 2m each, about 20 minutes in all).
flood:
	scripts/deps.sh test
	$(MAKE) --no-print-directory build
	BENCH=Flood BENCHTIME=1x scripts/bench.sh

# The reliability campaign (not part of `make test`): each fuzz target for
# RELIABILITY_FUZZTIME (60s), the hostile-values sweep, and
# RELIABILITY_ROUNDS (100) rounds of kill -9; prints the figures.
reliability:
	scripts/deps.sh test
	$(MAKE) --no-print-directory build
	scripts/reliability.sh

# Every built-in description and every one of the catalog dir
# (CATALOG_DIR) through `tails-server check`, with the total time; not
# part of `make test`. SERVICES="web nginx" checks only those.
conformance:
	scripts/deps.sh test
	$(MAKE) --no-print-directory build
	scripts/conformance.sh

# The Onionbalance acceptance (not part of `make test`): three instances
# behind a master on a 20-second-voting private network of its own, kill
# -9 failover rounds; prints the figures (scripts/balance.sh).
balance:
	scripts/deps.sh test
	$(MAKE) --no-print-directory build
	scripts/balance.sh

clean:
	rm -rf bin dist

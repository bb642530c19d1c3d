#!/usr/bin/env bash
# The reliability campaign, as `make reliability` runs it (not part of
# `make test`); each part is bounded:
#   fuzz     every fuzz target for RELIABILITY_FUZZTIME (default 60s; a
#            count such as 1000000x works too): executions and crashers
#   hostile  every option of every built-in service x the hostile set,
#            rendered and read back: injections found
#   kill     RELIABILITY_ROUNDS (default 100) rounds of kill -9 of the
#            daemon during enable, set-option, client add and remove, and
#            as many per kind of kill -9 of the daemon's tor, its checker
#            tor, a backend (during enable, disable, set-option,
#            persistence, client add and remove, upload) and the daemon
#            (during disable, persistence, upload): rounds and failures
#   exposure every listening socket probed from a LAN namespace and as
#            nobody, and a session's outputs searched for its secrets
#            (scripts/reliability-exposure.sh)
# RELIABILITY_PARTS picks some ("fuzz hostile kill exposure" by default). The kill
# rounds use the private Tor network of TAILS_TESTNET_DIR, or start one.
# Prints a summary; exits non-zero on any crasher, injection or failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"

fuzztime=${RELIABILITY_FUZZTIME:-60s}
rounds=${RELIABILITY_ROUNDS:-100}
parts=${RELIABILITY_PARTS:-fuzz hostile kill exposure}
for p in $parts; do
	case $p in fuzz | hostile | kill | exposure) ;; *)
		echo "RELIABILITY_PARTS: unknown part \"$p\" (use fuzz, hostile, kill and exposure)" >&2
		exit 2
		;;
	esac
done
if ! [[ $fuzztime =~ ^[0-9]+(x|s|m|h|ms)$ ]]; then
	echo "RELIABILITY_FUZZTIME=$fuzztime: use a duration such as 60s or a count such as 1000000x" >&2
	exit 2
fi
if ! [[ $rounds =~ ^[1-9][0-9]*$ ]]; then
	echo "RELIABILITY_ROUNDS=$rounds: use a number of rounds, 1 or more" >&2
	exit 2
fi
has() { [[ " $parts " == *" $1 "* ]]; }

logs=$(mktemp -d /tmp/tails-server-reliability.XXXXXX)
summary=()
bad=0
echo "== reliability $(date -u +%Y-%m-%dT%H:%MZ), logs in $logs"

if has fuzz; then
	echo "== fuzz ($fuzztime each)"
	for target in $(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' internal | sed 's/^func //' | sort -u); do
		pkg=$(dirname "$(grep -rlE "^func $target\(" --include='*_test.go' internal | head -1)")
		log="$logs/$target.log"
		start=$SECONDS
		status=ok
		# A short minimization keeps the exec counts flowing (new inputs
		# are minimized before they are counted).
		go test -run='^$' -fuzz="^$target\$" -fuzztime="$fuzztime" -fuzzminimizetime=10s "./$pkg" >"$log" 2>&1 || status=FAIL
		execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
		crashers=$(grep -c 'Failing input written to' "$log" || true)
		if [ "$status" = FAIL ] && [ "$crashers" = 0 ]; then
			# A seed or a testdata/fuzz entry failed before any fuzzing.
			crashers="$(grep -cE '^    --- FAIL: ' "$log" || true) in the corpus"
		fi
		[ "$status" = ok ] || bad=1
		line=$(printf '%-24s %-22s execs %10s  crashers %s  (%ds)' "$target" "$pkg" "$execs" "$crashers" $((SECONDS - start)))
		echo "$line"
		[ "$status" = ok ] || grep -A3 'Failing input written to\|--- FAIL' "$log" | head -8
		summary+=("fuzz $line")
	done
fi

if has hostile; then
	echo "== hostile values"
	log="$logs/hostile.log"
	status=ok
	go test -count=1 -v -run='^TestHostileValuesEveryOption$' ./internal/catalog >"$log" 2>&1 || status=FAIL
	line=$(grep -E '^hostile values:' "$log" || echo "hostile values: did not run (see $log)")
	[ "$status" = ok ] || { bad=1; grep -E '^\s+hostile_test.go' "$log" | head -20; }
	echo "$line"
	summary+=("$line")
fi

if has kill; then
	echo "== kill -9 ($rounds rounds)"
	go build -o bin/tails-server ./cmd/tails-server
	export TAILS_SERVER_BIN="$PWD/bin/tails-server"
	if [ -z "${TAILS_TESTNET_DIR:-}" ]; then
		net=$(mktemp -d /tmp/tails-server-reliability-net.XXXXXX)
		trap 'bin/tails-server testnet down --dir "$net/net" || true; rm -rf "$net"' EXIT
		bin/tails-server testnet up --dir "$net/net" >/dev/null
		export TAILS_TESTNET_DIR="$net/net"
	fi
	# The five campaigns are independent (each has its own daemon, state,
	# firewall table and client tor on the one private network) and spend
	# most of their time waiting for tor, so they run side by side, from
	# one test binary run in its package's folder as `go test` would.
	go test -c -o "$logs/e2e.test" ./internal/e2e
	start=$SECONDS
	pids=()
	(cd internal/e2e && RELIABILITY_ROUNDS=$rounds "$logs/e2e.test" -test.count=1 -test.v \
		-test.timeout=$((rounds * 5 + 10))m -test.run='^TestKillDuringEnableAndSetOption$') >"$logs/kill.log" 2>&1 &
	pids+=($!)
	for kind in tor checker backend daemon; do
		(cd internal/e2e && RELIABILITY_ROUNDS=$rounds "$logs/e2e.test" -test.count=1 -test.v \
			-test.timeout=$((rounds * 5 + 10))m -test.run="^TestKillTorsAndBackends\$/^$kind\$") >"$logs/kill-$kind.log" 2>&1 &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do wait "$pid" || bad=1; done
	log="$logs/kill.log"
	passed=$(grep -cE -- '--- PASS: TestKillDuringEnableAndSetOption/' "$log" || true)
	failed=$(grep -cE -- '--- FAIL: TestKillDuringEnableAndSetOption/' "$log" || true)
	line="kill -9 of the daemon (enable, set-option, client add, client remove): rounds $((passed + failed)) of $rounds, failures $failed"
	# The failed rounds, and what each one said besides what it killed.
	[ "$failed" = 0 ] || grep -E -- '--- FAIL|crash_test.go:[0-9]+: ' "$log" | grep -v 'kill -9 during' | head -20
	grep -qE -- '--- (PASS|FAIL): TestKillDuringEnableAndSetOption' "$log" || { bad=1; line="$line: did not run (see $log)"; }
	echo "$line"
	summary+=("$line")
	for kind in tor checker backend daemon; do
		log="$logs/kill-$kind.log"
		passed=$(grep -cE -- "--- PASS: TestKillTorsAndBackends/$kind/" "$log" || true)
		failed=$(grep -cE -- "--- FAIL: TestKillTorsAndBackends/$kind/" "$log" || true)
		what=$kind
		[ "$kind" = daemon ] && what="daemon (disable, persistence, upload)"
		line="kill -9 of $what: rounds $((passed + failed)) of $rounds, failures $failed"
		[ "$failed" = 0 ] || grep -E -- "--- FAIL: TestKillTorsAndBackends/$kind/|crash_more_test.go:[0-9]+: " "$log" | grep -v 'kill -9 of' | head -20
		grep -qE -- "--- (PASS|FAIL): TestKillTorsAndBackends/$kind" "$log" || { bad=1; line="$line: did not run (see $log)"; }
		echo "$line"
		summary+=("$line")
	done
	echo "(kill -9 campaigns, side by side: $((SECONDS - start))s)"
fi

if has exposure; then
	echo "== exposure and secrets"
	out=$(scripts/reliability-exposure.sh) || bad=1
	printf '%s\n' "$out"
	while IFS= read -r line; do summary+=("$line"); done < <(printf '%s\n' "$out" | grep -E '^(exposure|secrets): ')
fi

echo "== summary"
printf '%s\n' "${summary[@]}"
exit $bad

#!/usr/bin/env bash
# test.sh - the whole test suite: static checks, unit tests, namespace
# tests through the real binary (as root), the race detector on the
# concurrent packages, and, in CI or with FUZZ=1, every fuzz target (a
# minute for the parsers, 45 seconds for the others).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
export PATH=$PATH:/usr/local/go/bin

echo "== go vet"
go vet ./...
echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then echo "gofmt would change: $bad" >&2; exit 1; fi

echo "== build"
go build -o bin/dvs ./cmd/dvs
export DVS_BIN=$PWD/bin/dvs

if [ "$(id -u)" != 0 ]; then
    echo "!! NOT ROOT: the namespace tests (test/e2e and the port backends) will SKIP. Run as root to run them." >&2
fi

echo "== go test"
go test -count=1 -timeout 20m ./...

echo "== go test -race (the concurrent parts)"
go test -race -count=1 -timeout 10m ./internal/cache ./internal/pipeline ./internal/datapath \
    ./internal/classifier ./internal/agent ./internal/bridge ./internal/ofswitch ./internal/openflow/channel \
    ./internal/feature/meter ./internal/datapath/tunnel

if [ "${CI:-}" = true ] || [ "${FUZZ:-}" = 1 ]; then
    # The packet parser and the flow-syntax parser get a minute each, the
    # other targets 45 seconds (FUZZTIME overrides both).
    long=${FUZZTIME:-60s} short=${FUZZTIME:-45s}
    for target in "FuzzParse ./internal/packet $long" "FuzzParseRule ./internal/flowtext $long" \
        "FuzzParsePacket ./internal/flowtext $long" \
        "FuzzDecodeMatch ./internal/openflow $short" "FuzzDecodeMatchFast ./internal/openflow $short" \
        "FuzzDecodeInstructions ./internal/openflow $short" \
        "FuzzDecodeMessage ./internal/openflow $short" "FuzzDecodeGroupMod ./internal/openflow $short" \
        "FuzzDecodeMeterMod ./internal/openflow $short" "FuzzDecodeStats ./internal/openflow $short" \
        "FuzzDecodeConfig ./internal/openflow $short" "FuzzDecodeTableFeatures ./internal/openflow $short" \
        "FuzzDecodeBundle ./internal/openflow $short" "FuzzDecodeRoleAndAsync ./internal/openflow $short" \
        "FuzzCheckDecodedRule ./internal/ofswitch $short" \
        "FuzzSegment ./internal/datapath/gso $short" "FuzzDecapVXLAN ./internal/datapath/tunnel $short" \
        "FuzzDecapGeneve ./internal/datapath/tunnel $short" \
        "FuzzDecode ./internal/resource $short" "FuzzReplicaApply ./internal/manager $short"; do
        set -- $target
        echo "== fuzz $1 ($3)"
        go test -run '^$' -fuzz "^$1\$" -fuzztime "$3" "$2"
    done
fi
echo "== all tests passed"

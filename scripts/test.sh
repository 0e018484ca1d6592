#!/usr/bin/env bash
# test.sh - the whole test suite: static checks, unit tests, namespace
# tests through the real binary (as root), the race detector on the
# concurrent packages, and, in CI or with FUZZ=1, a minute of fuzzing per
# fuzz target.
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
    fuzztime=${FUZZTIME:-60s}
    for target in "FuzzParse ./internal/packet" "FuzzParseRule ./internal/flowtext" "FuzzParsePacket ./internal/flowtext" \
        "FuzzDecodeMatch ./internal/openflow" "FuzzDecodeInstructions ./internal/openflow" \
        "FuzzDecodeMessage ./internal/openflow" "FuzzDecodeGroupMod ./internal/openflow" \
        "FuzzDecodeMeterMod ./internal/openflow" "FuzzDecodeStats ./internal/openflow" \
        "FuzzDecodeConfig ./internal/openflow" "FuzzDecodeTableFeatures ./internal/openflow" \
        "FuzzDecodeBundle ./internal/openflow" "FuzzDecodeRoleAndAsync ./internal/openflow" \
        "FuzzSegment ./internal/datapath/gso" "FuzzDecapVXLAN ./internal/datapath/tunnel" \
        "FuzzDecapGeneve ./internal/datapath/tunnel"; do
        set -- $target
        echo "== fuzz $1 ($fuzztime)"
        go test -run '^$' -fuzz "^$1\$" -fuzztime "$fuzztime" "$2"
    done
fi
echo "== all tests passed"

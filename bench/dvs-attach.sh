#!/usr/bin/env bash
# dvs-attach.sh attach|detach A B - plug dvs into ../shared/bench/peer-bench.sh's
# custom mode: start an agent in the switch namespace (the caller's) with a
# bridge over the two interfaces, or tear it down. Work files in $DVS_BENCH_DIR.
# DVS_OFFLOAD=none runs the bridge without the kernel fast path (default tc).
set -euo pipefail
dir=${DVS_BENCH_DIR:-/tmp/dvs-bench}
bin=${DVS_BIN:-$(dirname "$(readlink -f "$0")")/../bin/dvs}
sock=$dir/dvs.sock
case "$1" in
attach)
    rm -rf "$dir"; mkdir -p "$dir"
    setsid "$bin" agent --state-dir "$dir/state" --socket "$sock" ${DVS_WORKERS:+--workers $DVS_WORKERS} \
        ${DVS_OFFLOAD:+--offload $DVS_OFFLOAD} \
        > "$dir/agent.log" 2>&1 < /dev/null &
    echo $! > "$dir/pid"
    for _ in $(seq 100); do "$bin" --socket "$sock" bridge list >/dev/null 2>&1 && break; sleep 0.05; done
    "$bin" --socket "$sock" bridge add br0
    "$bin" --socket "$sock" port add br0 "$2"
    "$bin" --socket "$sock" port add br0 "$3"
    ;;
detach)
    "$bin" --socket "$sock" stats br0 > "$dir/stats.txt" 2>&1 || true
    kill "$(cat "$dir/pid")" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$(cat "$dir/pid")" 2>/dev/null || break; sleep 0.1; done
    ;;
*) echo "usage: $0 attach|detach IFACE_A IFACE_B" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# micro.sh - issue 2's micro-benchmarks (parse, fast path, megaflow, classifier,
# slow path) on one core, each run COUNT times, then the range of each
# benchmark's ns/op and the share of the machine's CPU time the hypervisor
# stole while they ran. On a shared VM that share is the noise: the same
# binary runs 1.5-2x slower when it is high.
#
#   bench/micro.sh [-c COUNT] [-t BENCHTIME] [-b REGEXP]
#       (defaults: 5 runs of 2s, the benchmarks the issue names)
set -euo pipefail
cd "$(dirname "$0")/.."
count=5 benchtime=2s
bench='FastPathHit|MegaflowHit|ClassifierLookup|SlowPathTranslate|Parse$|ClassifierInsert'
while [ $# -gt 0 ]; do
    case "$1" in
    -c) count=$2; shift 2 ;;
    -t) benchtime=$2; shift 2 ;;
    -b) bench=$2; shift 2 ;;
    *) echo "usage: $0 [-c COUNT] [-t BENCHTIME] [-b REGEXP]" >&2; exit 2 ;;
    esac
done
export PATH=$PATH:/usr/local/go/bin

# cputimes prints the machine's stolen and total CPU time (in USER_HZ ticks).
cputimes() { awk '/^cpu /{t = 0; for (i = 2; i <= NF; i++) t += $i; print $9, t}' /proc/stat; }

out=$(mktemp)
trap 'rm -f "$out"' EXIT
read -r steal0 total0 < <(cputimes)
go test -run '^$' -bench "$bench" -benchmem -benchtime "$benchtime" -count "$count" -cpu 1 \
    ./internal/packet ./internal/datapath ./internal/cache ./internal/classifier ./internal/pipeline | tee "$out"
read -r steal1 total1 < <(cputimes)

echo
echo "ns/op over $count runs (min-max):"
awk '/^Benchmark/ { for (i = 1; i <= NF; i++) if ($i == "ns/op") v = $(i - 1)
        n = $1; if (!(n in lo)) { order[++k] = n; lo[n] = v; hi[n] = v }
        if (v + 0 < lo[n] + 0) lo[n] = v; if (v + 0 > hi[n] + 0) hi[n] = v }
    END { for (j = 1; j <= k; j++) printf "  %-50s %s-%s\n", order[j], lo[order[j]], hi[order[j]] }' "$out"
if [ "$total1" -gt "$total0" ]; then
    echo "the hypervisor stole $(( 100 * (steal1 - steal0) / (total1 - total0) ))% of this machine's CPU time meanwhile"
fi

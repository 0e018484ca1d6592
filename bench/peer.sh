#!/usr/bin/env bash
# peer.sh - forwarding benchmark of dvs against the Linux bridge and Open
# vSwitch (userspace datapath) on the same two-namespace topology, in one
# alternating series, with ratios. Uses ../shared/bench/peer-bench.sh.
#
#   bench/peer.sh [-n RUNS] [--duration S]     (as root)
#
# dvs runs twice: "dvs" with its kernel fast path (tc eBPF, the default) and
# "dvs-user" with --offload none (every packet through userspace).
# dvs runs with tx offloads on in the namespaces (it passes GSO/TSO through);
# Open vSwitch without TSO needs them off (its default in peer-bench), with
# userspace TSO on ("ovs-tso") it takes them on.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3 duration=10
while [ $# -gt 0 ]; do
    case "$1" in
    -n) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    *) echo "usage: $0 [-n RUNS] [--duration S]" >&2; exit 2 ;;
    esac
done
./scripts/deps.sh --bench
go build -o bin/dvs ./cmd/dvs
peer=${PEER_BENCH:-../shared/bench/peer-bench.sh}
here=$PWD
out=/tmp/dvs-peer-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
attach="DVS_BIN=$here/bin/dvs $here/bench/dvs-attach.sh"
"$peer" series -n "$runs" --out "$out" \
    "--duration $duration --flows 0 --offload on --label dvs --pid-cmd 'cat /tmp/dvs-bench/pid' custom '$attach attach {a} {b}' '$attach detach {a} {b}'" \
    "--duration $duration --flows 0 --offload on --label dvs-user --pid-cmd 'cat /tmp/dvs-bench/pid' custom 'DVS_OFFLOAD=none $attach attach {a} {b}' '$attach detach {a} {b}'" \
    "--duration $duration --flows 0 bridge" \
    "--duration $duration --flows 0 ovs" \
    "--duration $duration --flows 0 --ovs-tso --label ovs-tso ovs" | tee "$out/summary.txt"
echo
echo "== ratios (medians): dvs (kernel fast path) and dvs-user (userspace only) / peer"
awk '$1 != "metric" && NF >= 3 { v[$1 "," $2] = $3; m[$1] = 1 }
     END {
       split("udp64_rx_pps tcp1_gbps tcp4_gbps ping_avg_ms udp64_switch_cpu_pct udp64_softirq_cpu_pct udp64_host_cpu_pct tcp1_switch_cpu_pct", ms, " ")
       split("dvs dvs-user", ss, " ")
       for (i = 1; i <= 8; i++) for (s = 1; s <= 2; s++) { k = ms[i]
         d = v[k "," ss[s]]; if (d == "") continue
         line = sprintf("%-22s %s=%-10s", k, ss[s], d)
         split("bridge ovs ovs-tso dvs-user", ps, " ")
         for (j = 1; j <= 4; j++) { if (ps[j] == ss[s]) continue; p = v[k "," ps[j]]; if (p != "" && p + 0 != 0) line = line sprintf(" vs %s=%s (%.2fx)", ps[j], p, d / p) }
         print line } }' "$out/summary.txt"
echo "logs: $out"

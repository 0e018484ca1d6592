#!/usr/bin/env bash
# ofinstall.sh - how fast ovs-ofctl installs flows into dvs and into Open
# vSwitch (userspace datapath), in the same run: N distinct flows with
# `ovs-ofctl -O OpenFlow13 add-flows`, plain and with --bundle, R rounds
# each, alternating switches. Prints seconds and flows/s per run, the
# medians, and dvs/ovs ratios.
#
#   bench/ofinstall.sh [-n FLOWS] [-r ROUNDS]      (as root; default 100000 flows, 3 rounds)
#
# Both switches run in a private network namespace with no ports; each
# round starts from empty tables and checks the flow count afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
flows=100000 rounds=3
while [ $# -gt 0 ]; do
    case "$1" in
    -n) flows=$2; shift 2 ;;
    -r) rounds=$2; shift 2 ;;
    *) echo "usage: $0 [-n FLOWS] [-r ROUNDS]" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
./scripts/deps.sh --bench >/dev/null
go build -o bin/dvs ./cmd/dvs

work=$(mktemp -d /tmp/dvs-ofinstall.XXXXXX)
ns=ofinst-$$
nsx() { ip netns exec "$ns" "$@"; }
cleanup() {
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
export OVS_RUNDIR=$work OVS_LOGDIR=$work OVS_DBDIR=$work

# dvs: an agent with one bridge in secure mode (empty tables).
nsx bin/dvs agent --state-dir "$work/dvs" --socket "$work/dvs.sock" --workers 1 >"$work/dvs.log" 2>&1 &
for _ in $(seq 100); do [ -S "$work/dvs.sock" ] && break; sleep 0.1; done
bin/dvs --socket "$work/dvs.sock" bridge add br0 --fail-mode secure >/dev/null
dvs_target=unix:$work/dvs/br0.mgmt

# Open vSwitch: a private ovsdb-server and ovs-vswitchd, one netdev bridge.
ovsdb-tool create "$work/conf.db" /usr/share/openvswitch/vswitch.ovsschema
nsx ovsdb-server "$work/conf.db" --remote=punix:"$work/db.sock" --pidfile="$work/ovsdb.pid" \
    --detach --no-chdir --log-file="$work/ovsdb.log" -vconsole:off
vsctl() { ovs-vsctl --db=unix:"$work/db.sock" --timeout=30 "$@"; }
vsctl --no-wait init
nsx ovs-vswitchd unix:"$work/db.sock" --pidfile="$work/vswitchd.pid" --detach --no-chdir \
    --log-file="$work/vswitchd.log" -vconsole:off
vsctl add-br br0 -- set bridge br0 datapath_type=netdev protocols=OpenFlow13 fail_mode=secure
ovs_target=unix:$work/br0.mgmt

# N distinct flows over IPv4 sources and TCP ports.
file=$work/flows.txt
awk -v n="$flows" 'BEGIN { for (i = 0; i < n; i++)
    printf "priority=%d,tcp,nw_src=10.%d.%d.%d,tp_dst=%d,actions=output:%d\n", 100 + i % 7, int(i / 65536) % 256, int(i / 256) % 256, i % 256, 1 + i % 1000, 1 + i % 4 }' >"$file"

ofctl() { ovs-ofctl -O OpenFlow13 "$@"; }
results=$work/results.txt
: >"$results"
for r in $(seq "$rounds"); do
    for mode in plain bundle; do
        for sw in dvs ovs; do
            t=${sw}_target; t=${!t}
            ofctl del-flows "$t"
            opt=(); [ $mode = bundle ] && opt=(--bundle)
            s=$(date +%s.%N)
            ofctl "${opt[@]}" add-flows "$t" "$file"
            e=$(date +%s.%N)
            n=$(ofctl dump-flows "$t" | grep -c "actions=" || true)
            [ "$n" = "$flows" ] || { echo "$sw $mode: $n flows installed, want $flows" >&2; exit 1; }
            secs=$(echo "$e - $s" | bc -l)
            printf '%s %s %s %.3f %.0f\n' "$r" "$sw" "$mode" "$secs" "$(echo "$flows / $secs" | bc -l)" | tee -a "$results"
        done
    done
done
ofctl del-flows "$dvs_target"; ofctl del-flows "$ovs_target"
echo
echo "== medians ($flows flows, $rounds rounds): seconds, flows/s, dvs/ovs rate ratio"
for mode in plain bundle; do
    d=$(awk -v m=$mode '$2 == "dvs" && $3 == m { print $5 }' "$results" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    o=$(awk -v m=$mode '$2 == "ovs" && $3 == m { print $5 }' "$results" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    printf '%-7s dvs=%s flows/s  ovs=%s flows/s  ratio=%.2fx\n' "$mode" "$d" "$o" "$(echo "$d / $o" | bc -l)"
done

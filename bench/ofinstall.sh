#!/usr/bin/env bash
# ofinstall.sh - how fast ovs-ofctl installs flows into dvs and into Open
# vSwitch (userspace datapath), in the same run: N distinct flows with
# `ovs-ofctl -O OpenFlow13 add-flows`, plain and with --bundle, R rounds
# each, alternating switches. Prints seconds and flows/s per run, the
# medians, and dvs/ovs ratios.
#
# With --bundle, each round also times ovs-ofctl against bench/ofsink, a
# switch that applies nothing ("floor"): what ovs-ofctl itself takes to
# parse, encode and send the flows, which both switches' times include. A
# switch's own share of a bundled install is its time less the floor's.
# (Plain add-flows waits for a barrier reply after every flow, so its time
# is round trips, and a sink's round trips are no floor for it.)
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
go build -o bin/ofsink ./bench/ofsink

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

# The floor: a switch that answers and applies nothing.
nsx bin/ofsink "$work/sink.sock" 2>"$work/sink.log" &
for _ in $(seq 100); do [ -S "$work/sink.sock" ] && break; sleep 0.1; done
floor_target=unix:$work/sink.sock

# N distinct flows over IPv4 sources and TCP ports.
file=$work/flows.txt
awk -v n="$flows" 'BEGIN { for (i = 0; i < n; i++)
    printf "priority=%d,tcp,nw_src=10.%d.%d.%d,tp_dst=%d,actions=output:%d\n", 100 + i % 7, int(i / 65536) % 256, int(i / 256) % 256, i % 256, 1 + i % 1000, 1 + i % 4 }' >"$file"

ofctl() { ovs-ofctl -O OpenFlow13 -vpoll_loop:off "$@"; }
results=$work/results.txt
: >"$results"
for r in $(seq "$rounds"); do
    for mode in plain bundle; do
        sws=(dvs ovs); [ $mode = bundle ] && sws+=(floor)
        for sw in "${sws[@]}"; do
            t=${sw}_target; t=${!t}
            [ $sw = floor ] || ofctl del-flows "$t"
            opt=(); [ $mode = bundle ] && opt=(--bundle)
            s=$(date +%s.%N)
            ofctl "${opt[@]}" add-flows "$t" "$file"
            e=$(date +%s.%N)
            if [ $sw != floor ]; then
                n=$(ofctl dump-flows "$t" | grep -c "actions=" || true)
                [ "$n" = "$flows" ] || { echo "$sw $mode: $n flows installed, want $flows" >&2; exit 1; }
            fi
            secs=$(echo "$e - $s" | bc -l)
            printf '%s %s %s %.3f %.0f\n' "$r" "$sw" "$mode" "$secs" "$(echo "$flows / $secs" | bc -l)" | tee -a "$results"
        done
    done
done
ofctl del-flows "$dvs_target"; ofctl del-flows "$ovs_target"
echo
echo "== medians ($flows flows, $rounds rounds): flows/s, dvs/ovs rate ratio; with --bundle, seconds"
echo "   of ovs-ofctl against a switch that applies nothing (floor) and each switch's seconds beyond it"
median() { awk -v m="$1" -v s="$2" -v f="$3" '$2 == s && $3 == m { print $f }' "$results" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for mode in plain bundle; do
    d=$(median $mode dvs 5) o=$(median $mode ovs 5)
    printf '%-7s dvs=%s flows/s  ovs=%s flows/s  ratio=%.2fx' "$mode" "$d" "$o" "$(echo "$d / $o" | bc -l)"
    if [ $mode = bundle ]; then
        ds=$(median $mode dvs 4) os=$(median $mode ovs 4) fs=$(median $mode floor 4)
        printf '  floor=%ss  beyond it: dvs=%.3fs ovs=%.3fs' "$fs" "$(echo "$ds - $fs" | bc -l)" "$(echo "$os - $fs" | bc -l)"
    fi
    echo
done

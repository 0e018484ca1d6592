#!/usr/bin/env bash
# demo.sh - build dvs and run it as a switch between two hosts.
#
#   ./scripts/demo.sh        set up and leave it running (as root)
#   ./scripts/demo.sh stop   tear it down
#
# Topology: namespaces dvs-demo-h1 (198.51.100.1/24) and dvs-demo-h2
# (198.51.100.2/24), each with an eth0 whose veth peer sits in the switch
# namespace dvs-demo-sw, where a dvs agent owns both as ports of bridge br0.
# The switch side has no addresses, so nothing leaves the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
SW=dvs-demo-sw H1=dvs-demo-h1 H2=dvs-demo-h2
RUN=/run/dvs-demo
DVS="$PWD/bin/dvs --socket $RUN/dvs.sock"

stop() {
    if [ -s "$RUN/agent.pid" ]; then
        kill "$(cat "$RUN/agent.pid")" 2>/dev/null || true
        sleep 0.5
    fi
    for ns in $H1 $H2 $SW; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$RUN"
    echo "demo stopped"
}

if [ "${1:-}" = stop ]; then stop; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it creates network namespaces)" >&2; exit 1; }
[ -e "/var/run/netns/$SW" ] && stop

./scripts/deps.sh
export PATH=$PATH:/usr/local/go/bin
go build -o bin/dvs ./cmd/dvs

mkdir -p "$RUN"
ip netns add $SW; ip netns add $H1; ip netns add $H2
ip netns exec $SW sysctl -qw net.ipv6.conf.all.disable_ipv6=1
for i in 1 2; do
    h=dvs-demo-h$i
    ip -n $SW link add sw-h$i type veth peer name eth0 netns $h
    ip -n $h addr add 198.51.100.$i/24 dev eth0
    ip -n $h link set eth0 up; ip -n $h link set lo up
    ip -n $SW link set sw-h$i up
done

ip netns exec $SW setsid "$PWD/bin/dvs" agent --state-dir "$RUN/state" --socket "$RUN/dvs.sock" \
    > "$RUN/agent.log" 2>&1 < /dev/null &
echo $! > "$RUN/agent.pid"
for _ in $(seq 100); do $DVS bridge list >/dev/null 2>&1 && break; sleep 0.05; done

$DVS bridge add br0
$DVS port add br0 sw-h1 --vlan 10
$DVS port add br0 sw-h2 --vlan 10
echo
echo "== ping h1 -> h2 through dvs"
ip netns exec $H1 ping -c 3 -i 0.2 198.51.100.2
echo
echo "== learned MACs"
$DVS mac show br0
echo
echo "== flows"
$DVS flow dump br0
echo
mac1=$(ip netns exec $H1 cat /sys/class/net/eth0/address)
mac2=$(ip netns exec $H2 cat /sys/class/net/eth0/address)
echo "== trace of an ICMP packet from h1 to h2"
$DVS trace br0 "in_port=sw-h1,icmp,dl_src=$mac1,dl_dst=$mac2,nw_src=198.51.100.1,nw_dst=198.51.100.2"
cat <<EOT

The demo is running. Try:
  ip netns exec $H1 ping 198.51.100.2
  $DVS stats br0
  $DVS flow add br0 "priority=100,in_port=sw-h1,icmp,actions=drop"
  $DVS flow del br0 --strict "priority=100,in_port=sw-h1,icmp"
Agent log: $RUN/agent.log.  Stop with: $0 stop
EOT

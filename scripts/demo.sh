#!/usr/bin/env bash
# demo.sh - build dvs and run the distributed switch on this machine with
# `dvs up` (a manager and this host's agent in one process), then describe
# a small network with `dvs apply -f` and ping across it.
#
#   ./scripts/demo.sh        set up and leave it running (as root)
#   ./scripts/demo.sh stop   tear it down
#
# Topology: switch "demo" (vxlan overlay) with port group "web" (VNI 100);
# two VMs, namespaces dvs-demo-vm1 (198.51.100.1/24) and dvs-demo-vm2
# (198.51.100.2/24), each with an eth0 whose veth peer (dvs-vm1, dvs-vm2)
# sits in this host's namespace without addresses and is the VM's port. The
# manager listens on 127.0.0.1:7441; its data, the agent's state and socket
# live in /run/dvs-demo, so nothing else on the machine is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
VM1=dvs-demo-vm1 VM2=dvs-demo-vm2
RUN=/run/dvs-demo
MGR=http://127.0.0.1:7441
BIN="$PWD/bin/dvs"
DVS="$BIN --socket $RUN/dvs.sock"

stop() {
    if [ -s "$RUN/up.pid" ]; then
        pid=$(cat "$RUN/up.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    for ns in $VM1 $VM2; do ip netns del "$ns" 2>/dev/null || true; done
    for l in dvs-vm1 dvs-vm2; do ip link del "$l" 2>/dev/null || true; done
    rm -rf "$RUN"
    echo "demo stopped"
}

if [ "${1:-}" = stop ]; then stop; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it creates network namespaces)" >&2; exit 1; }
[ -e "/var/run/netns/$VM1" ] || [ -d "$RUN" ] && stop

./scripts/deps.sh
export PATH=$PATH:/usr/local/go/bin
go build -o bin/dvs ./cmd/dvs

mkdir -p "$RUN"
macs=(02:00:5e:00:10:01 02:00:5e:00:10:02)
for i in 1 2; do
    ns=dvs-demo-vm$i
    ip netns add "$ns"
    ip link add "dvs-vm$i" type veth peer name eth0 netns "$ns"
    sysctl -qw "net.ipv6.conf.dvs-vm$i.disable_ipv6=1"
    ip -n "$ns" link set eth0 address "${macs[i-1]}"
    ip -n "$ns" addr add "198.51.100.$i/24" dev eth0
    ip -n "$ns" link set eth0 up; ip -n "$ns" link set lo up
    ip link set "dvs-vm$i" up
done

echo "== dvs up"
setsid $DVS up --host dvs-demo --data-dir "$RUN/manager" --state-dir "$RUN/state" \
    > "$RUN/up.log" 2>&1 < /dev/null &
echo $! > "$RUN/up.pid"
for _ in $(seq 100); do
    $BIN host list --manager $MGR 2>/dev/null | grep -q dvs-demo && break
    kill -0 "$(cat "$RUN/up.pid")" 2>/dev/null || { cat "$RUN/up.log" >&2; exit 1; }
    sleep 0.1
done
sed -n '/^dvs is up/,/^Stop with/p' "$RUN/up.log"

cat > "$RUN/net.yaml" <<EOT
apiVersion: dvs/v1
kind: Switch
metadata: {name: demo}
spec: {overlay: vxlan}
---
apiVersion: dvs/v1
kind: PortGroup
metadata: {name: web}
spec: {switch: demo, vni: 100}
---
apiVersion: dvs/v1
kind: Port
metadata: {name: vm1}
spec: {portGroup: web, mac: "${macs[0]}", ips: [198.51.100.1], host: dvs-demo, interface: dvs-vm1, interfaceType: veth}
---
apiVersion: dvs/v1
kind: Port
metadata: {name: vm2}
spec: {portGroup: web, mac: "${macs[1]}", ips: [198.51.100.2], host: dvs-demo, interface: dvs-vm2, interfaceType: veth}
EOT
echo
echo "== dvs apply -f $RUN/net.yaml"
$BIN apply -f "$RUN/net.yaml" --manager $MGR
for _ in $(seq 100); do
    [ "$($DVS port list demo -o json 2>/dev/null | jq length 2>/dev/null)" = 2 ] && break
    sleep 0.1
done
echo
echo "== host list (the revision the agent acknowledged)"
$BIN host list --manager $MGR
echo
echo "== ping vm1 -> vm2 through dvs"
ip netns exec $VM1 ping -c 3 -i 0.2 198.51.100.2
echo
echo "== the port group's flows"
$DVS flow dump demo
cat <<EOT

The demo is running. Try:
  ip netns exec $VM1 ping 198.51.100.2
  $BIN get ports --manager $MGR
  $DVS stats demo
  $DVS trace demo "in_port=dvs-vm1,icmp,dl_src=${macs[0]},dl_dst=${macs[1]},nw_src=198.51.100.1,nw_dst=198.51.100.2"
Log: $RUN/up.log.  Stop with: $0 stop
EOT

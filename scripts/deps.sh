#!/usr/bin/env bash
# deps.sh - install what building, testing and the demo need on a fresh
# Debian 12 machine: Debian packages (as root) and the Go modules.
# Pass --bench to also install the peers the benchmarks compare against, and
# --conformance for the OpenFlow conformance harness (test/conformance).
set -euo pipefail
cd "$(dirname "$0")/.."

# ovs-ofctl and ovs-testcontroller are the OpenFlow peers the tests use;
# openvswitch-switch is the Open vSwitch (userspace datapath, in a namespace
# of its own) the tunnel interop tests run against; etcd-server is the etcd
# the manager's shared-store tests start.
pkgs=(iproute2 iputils-ping iperf3 tcpdump ethtool jq procps openvswitch-common openvswitch-switch openvswitch-testcontroller etcd-server)
[ "${1:-}" = --bench ] && pkgs+=(gawk bc)
[ "${1:-}" = --conformance ] && pkgs+=(python3-os-ken)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "deps.sh: missing Debian packages ${missing[*]}; run as root to install them" >&2
    else
        echo "deps.sh: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi
# Open vSwitch's and etcd's packages start their daemons; the tests and
# benchmarks run their own.
for svc in openvswitch-switch openvswitch-testcontroller etcd; do
    if command -v systemctl >/dev/null && systemctl is-active -q "$svc" 2>/dev/null; then
        systemctl stop "$svc" || true
    fi
done

export PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || { echo "deps.sh: Go is not installed (expected /usr/local/go)" >&2; exit 1; }
go mod download

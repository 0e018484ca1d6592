#!/usr/bin/env bash
# deps.sh - install what building, testing and the demo need on a fresh
# Debian 12 machine: Debian packages (as root) and the Go modules.
# Pass --bench to also install the peers the benchmarks compare against.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(iproute2 iputils-ping iperf3 tcpdump ethtool jq procps)
[ "${1:-}" = --bench ] && pkgs+=(openvswitch-switch gawk)

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
# Open vSwitch's package starts its daemons; the benchmarks run their own.
if [ "${1:-}" = --bench ] && command -v systemctl >/dev/null && systemctl is-active -q openvswitch-switch 2>/dev/null; then
    systemctl stop openvswitch-switch || true
fi

export PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || { echo "deps.sh: Go is not installed (expected /usr/local/go)" >&2; exit 1; }
go mod download

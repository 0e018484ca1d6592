#!/usr/bin/env bash
# test/conformance/run.sh - run the OpenFlow 1.3 conformance harness
# (../shared/conformance: Ryu's switch test cases run by os-ken's tester)
# against dvs: one dvs agent in the harness's namespace, one bridge with
# datapath id 1, ports 1-3 and a controller connection to the tester.
#
# Usage: test/conformance/run.sh [harness options, e.g. --cases match]
# Environment: CONFORMANCE_DIR (default ../shared/conformance next to the
# repository), DVS_BIN (default: built from this tree).
# Needs root and Debian's python3-os-ken and openvswitch-switch
# (scripts/deps.sh --conformance installs them).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HARNESS=${CONFORMANCE_DIR:-$ROOT/../shared/conformance}
[ -x "$HARNESS/run-of13-conformance.sh" ] || { echo "no harness at $HARNESS (set CONFORMANCE_DIR)" >&2; exit 2; }
BIN=${DVS_BIN:-}
if [ -z "$BIN" ]; then
    BIN=$(mktemp -d /tmp/dvs-conformance.XXXXXX)/dvs
    (cd "$ROOT" && go build -o "$BIN" ./cmd/dvs)
fi

# The target: an agent in the background, then the bridge and its ports,
# and only then the controller (the tester reads the ports when it joins).
# {work} is the harness's private scratch directory for the target.
TARGET_CMD="mkdir -p {work} && $BIN agent --state-dir {work} --socket {work}/dvs.sock --workers 1 >{work}/agent.log 2>&1 &
for i in \$(seq 100); do [ -S {work}/dvs.sock ] && break; sleep 0.1; done
export DVS_SOCKET={work}/dvs.sock
$BIN bridge add br0 --datapath-id {dpid} --fail-mode secure &&
$BIN port add br0 {p1} --ofport 1 && $BIN port add br0 {p2} --ofport 2 && $BIN port add br0 {p3} --ofport 3 &&
$BIN bridge set br0 --controller tcp:127.0.0.1:{port} &&
wait"
export TARGET_CMD
export TARGET_STOP_CMD="cat {work}/agent.log | tail -20"
exec "$HARNESS/run-of13-conformance.sh" "$@" custom

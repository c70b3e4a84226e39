#!/usr/bin/env bash
# Reproduces the "Relay" numbers of docs/performance.md: throughput and latency of
# `moneysocket relay` at 1/10/100/1,000 pairs (300-byte frames), p99 in an open-loop run at
# 10k msgs/s, RSS per idle connection at 10,000 connections, and the baseline measured in the
# same run: the same load generator against `moneysocket bench echo` (a moneysocket-ws server
# that echoes every frame: no rendezvous, no relay between the two ends).
#
# Usage: host/benches/relay-bench.sh            (from the repository root)
# Env:   OUT=dir (default target/relay-bench), SKIP_BUILD=1, IDLE=10000
# The load generator and the server run on the same machine and share its cores.
set -euo pipefail
ulimit -n 20000
cd "$(dirname "$0")/../.."
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p moneysocket-host >&2
BIN=target/release/moneysocket
OUT=${OUT:-target/relay-bench}
IDLE=${IDLE:-10000}
mkdir -p "$OUT"
CFG="$OUT/relay.toml"
cat >"$CFG" <<'TOML'
port = 0
log_level = "warn"
stats_interval = 0
max_connections = 16384
max_per_ip = 0
unpaired_timeout = 600.0
TOML

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# start_server NAME ARGS... : sets URL and PID
start_server() {
    local name=$1; shift
    "$BIN" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" &
    PID=$!
    PIDS+=("$PID")
    for _ in $(seq 100); do
        URL=$(sed -n 's/^listening at: //p' "$OUT/$name.out")
        [ -n "$URL" ] && return 0
        sleep 0.05
    done
    echo "$name did not start" >&2; exit 1
}

# run NAME ARGS... : one bench run, JSON saved in $OUT/NAME.json, one line on stderr
run() {
    local name=$1; shift
    "$BIN" bench relay --json --timeout 30 "$@" >"$OUT/$name.json" || echo "  ($name: run reported errors)" >&2
    jq -r --arg n "$name" '"\($n): \(.forwarded_msgs_per_s // "-") fwd/s, p50 \(.latency_us.p50 // "-") µs, p99 \(.latency_us.p99 // "-") µs, server cpu \(.server_cpu_pct // "-")%, errors \(.errors)"' "$OUT/$name.json" >&2
}

# pairs → round trips per pair (about 100k round trips per step, fewer for one pair)
STEPS="1:40000 10:10000 100:1000 1000:100"

start_server relay relay --config "$CFG"
RELAY_URL=$URL; RELAY_PID=$PID
start_server echo bench echo --port 0
ECHO_URL=$URL; ECHO_PID=$PID

for step in $STEPS; do
    n=${step%%:*}; m=${step##*:}
    run "relay-$n" --url "$RELAY_URL" --server-pid "$RELAY_PID" --pairs "$n" --messages "$m" --size 300
    run "direct-$n" --url "$ECHO_URL" --server-pid "$ECHO_PID" --direct --pairs "$n" --messages "$m" --size 300
done
# open loop: 10,000 messages sent per second in total (20,000 relay forwards/s), 10 s
run relay-rate10k --url "$RELAY_URL" --server-pid "$RELAY_PID" --pairs 100 --messages 1000 --size 300 --rate 10000
run direct-rate10k --url "$ECHO_URL" --server-pid "$ECHO_PID" --direct --pairs 100 --messages 1000 --size 300 --rate 10000
kill "$RELAY_PID" "$ECHO_PID"; wait "$RELAY_PID" "$ECHO_PID" 2>/dev/null || true

# idle connections against a fresh relay
start_server relay-idle relay --config "$CFG"
sleep 0.5
"$BIN" bench relay --json --timeout 30 --url "$URL" --server-pid "$PID" --idle "$IDLE" --hold 5 >"$OUT/idle.json" \
    || echo "  (idle: run reported errors)" >&2
jq -r '"idle: \(.waiting)/\(.idle) waiting, RSS \(.server_rss_kib_before) -> \(.server_rss_kib_after) KiB, \(.server_rss_kib_per_conn) KiB per connection"' "$OUT/idle.json" >&2
# the same relay, still holding nothing: 10 and 100 active pairs next to 10,000 idle ones
"$BIN" bench relay --json --timeout 30 --url "$URL" --idle "$IDLE" --hold 25 >"$OUT/idle-bg.json" &
BG=$!
sleep 6
run relay-10-idle10k --url "$URL" --server-pid "$PID" --pairs 10 --messages 5000 --size 300
run relay-100-idle10k --url "$URL" --server-pid "$PID" --pairs 100 --messages 500 --size 300
wait "$BG" || echo "  (background idle run reported errors)" >&2
kill "$PID"

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores" | tee "$OUT/machine.txt" >&2
echo "results in $OUT/*.json" >&2

#!/usr/bin/env bash
# Reproduces the "Relay" numbers of docs/performance.md: throughput and latency of
# `moneysocket relay` at 1/10/100/1,000 pairs (300-byte frames), p99 in an open-loop run at
# 10k msgs/s, RSS per idle connection at 10,000 connections, active pairs next to 10,000 idle
# connections, and the baseline measured in the same run: the same load generator against
# `moneysocket bench echo` (a moneysocket-ws server that echoes every frame: no rendezvous,
# no relay between the two ends).
#
# Usage: host/benches/relay-bench.sh            (from anywhere in the repository)
# Env:   OUT=dir (default target/relay-bench)  REPS=3 (repetitions; the table shows medians)
#        IDLE=10000  SKIP_BUILD=1  NICE="nice -n -10" (prefix for the relay, echo server and
#        load generator, to shield them from other work on a shared machine)
# The load generator and the server run on the same machine and share its cores.
set -euo pipefail
ulimit -n 20000
cd "$(dirname "$0")/../.."
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p moneysocket-host >&2
BIN="${NICE:-} target/release/moneysocket"
OUT=${OUT:-target/relay-bench}
IDLE=${IDLE:-10000}
REPS=${REPS:-3}
mkdir -p "$OUT"
rm -f "$OUT"/*.json
. host/benches/lib.sh
CFG="$OUT/relay.toml"
bench_relay_config "$CFG"

# run NAME ARGS... : one bench run, JSON in $OUT/NAME.REP.json, one line on stderr
run() {
    local name=$1; shift
    local f="$OUT/$name.$REP.json"
    $BIN bench relay --json --timeout 30 "$@" >"$f" || echo "  ($name: run reported errors)" >&2
    jq -r --arg n "$name" '"\($n): \(.forwarded_msgs_per_s // "-") fwd/s, p50 \(.latency_us.p50 // "-") µs, p99 \(.latency_us.p99 // "-") µs, server cpu \(.server_cpu_pct // "-")%, errors \(.errors)"' "$f" >&2
    sleep 1
}

# pairs:round trips per pair (about 100k round trips per step, fewer for one pair)
STEPS="1:40000 10:10000 100:1000 1000:100"

for REP in $(seq "$REPS"); do
    echo "--- repetition $REP/$REPS (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    start_server relay $BIN relay --config "$CFG"
    RELAY_URL=$URL; RELAY_PID=$PID
    start_server echo $BIN bench echo --port 0
    ECHO_URL=$URL; ECHO_PID=$PID
    for step in $STEPS; do
        n=${step%%:*}; m=${step##*:}
        run "relay-$n" --url "$RELAY_URL" --server-pid "$RELAY_PID" --pairs "$n" --messages "$m" --size 300
        run "direct-$n" --url "$ECHO_URL" --server-pid "$ECHO_PID" --direct --pairs "$n" --messages "$m" --size 300
    done
    # open loop: 10,000 messages sent per second in total (20,000 relay forwards/s), 5 s
    run relay-rate10k --url "$RELAY_URL" --server-pid "$RELAY_PID" --pairs 100 --messages 500 --size 300 --rate 10000
    run direct-rate10k --url "$ECHO_URL" --server-pid "$ECHO_PID" --direct --pairs 100 --messages 500 --size 300 --rate 10000
    kill "$RELAY_PID" "$ECHO_PID"; wait "$RELAY_PID" "$ECHO_PID" 2>/dev/null || true

    # idle connections against a fresh relay, then active pairs next to them
    start_server relay-idle $BIN relay --config "$CFG"
    sleep 0.5
    $BIN bench relay --json --timeout 30 --url "$URL" --server-pid "$PID" --idle "$IDLE" --hold 5 \
        >"$OUT/idle.$REP.json" || echo "  (idle: run reported errors)" >&2
    jq -r '"idle: \(.waiting)/\(.idle) waiting, RSS \(.server_rss_kib_before) -> \(.server_rss_kib_after) KiB, \(.server_rss_kib_per_conn) KiB per connection"' "$OUT/idle.$REP.json" >&2
    $BIN bench relay --json --timeout 30 --url "$URL" --idle "$IDLE" --hold 25 >"$OUT/idle-bg.$REP.json" &
    BG=$!
    sleep 6
    run relay-10-idle10k --url "$URL" --server-pid "$PID" --pairs 10 --messages 5000 --size 300
    run relay-100-idle10k --url "$URL" --server-pid "$PID" --pairs 100 --messages 500 --size 300
    wait "$BG" || echo "  (background idle run reported errors)" >&2
    kill "$PID"; wait "$PID" 2>/dev/null || true
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores" | tee "$OUT/machine.txt" >&2

# medians over the repetitions, as a Markdown table
python3 - "$OUT" <<'PY' | tee "$OUT/summary.md"
import glob, json, os, statistics, sys
out = sys.argv[1]
def runs(name):
    return [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, f"{name}.*.json")))]
def med(rs, get):
    vals = [v for v in (get(r) for r in rs) if v is not None]
    return statistics.median(vals) if vals else None
def fmt(v, unit=""):
    if v is None: return "-"
    if unit == "us": return f"{v/1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"
    return f"{v:,.0f}"
print("| run | forwarded msgs/s | p50 | p99 | server CPU | fwd msgs per server CPU-s | vs. baseline (per CPU-s) | errors |")
print("|---|---|---|---|---|---|---|---|")
for name in ["1", "10", "100", "1000", "rate10k", "10-idle10k", "100-idle10k"]:
    rs = runs(f"relay-{name}")
    if not rs: continue
    base = runs(f"direct-{name}") if not name.endswith("idle10k") else runs("direct-" + name.split("-")[0])
    eff = med(rs, lambda r: r["forwarded_msgs_per_server_cpu_s"])
    beff = med(base, lambda r: r["forwarded_msgs_per_server_cpu_s"]) if base else None
    ratio = f"{eff / beff:.2f}×" if eff and beff else "-"
    errs = sum(r["errors"] for r in rs)
    for label, group, rt in [(f"relay, {name}", rs, ratio), (f"baseline (echo), {name}", base if not name.endswith("idle10k") else [], "1.00×")]:
        if not group: continue
        print(f"| {label} | {fmt(med(group, lambda r: r['forwarded_msgs_per_s']))} "
              f"| {fmt(med(group, lambda r: r['latency_us']['p50']), 'us')} "
              f"| {fmt(med(group, lambda r: r['latency_us']['p99']), 'us')} "
              f"| {med(group, lambda r: r['server_cpu_pct'])}% "
              f"| {fmt(med(group, lambda r: r['forwarded_msgs_per_server_cpu_s']))} | {rt} "
              f"| {sum(r['errors'] for r in group)} |")
idle = runs("idle")
if idle:
    print()
    print(f"idle: {med(idle, lambda r: r['waiting'])} connections, RSS per idle connection "
          f"{med(idle, lambda r: r['server_rss_kib_per_conn'])} KiB (median of {len(idle)}; "
          f"each: {[r['server_rss_kib_per_conn'] for r in idle]})")
print(f"p99 of each rate10k run: {[r['latency_us']['p99'] for r in runs('relay-rate10k')]} µs")
PY
echo "results in $OUT/" >&2

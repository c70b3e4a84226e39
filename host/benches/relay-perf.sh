#!/usr/bin/env bash
# Before/after numbers of the relay's forwarding path (issue 14), in one run: the relay and
# the echo baseline of a base build ("before") and of this checkout ("after"), all running at
# once, every case run in a rotating order within each repetition so that a change of the
# shared machine's speed hits both sides alike. Per run: forwarded msgs/s, p50/p99/p99.9,
# server CPU from /proc (forwards per server CPU-second), and the load generator's own CPU
# per forwarded message. Closed loop, 300-byte messages (304-byte frames), at 1/10/50/100/1,000
# pairs; then the RSS per idle connection of both relays (IDLE connections, fresh relays).
#
# Variants (server / load generator):
#   before        base relay      / base generator
#   after         new relay       / new generator
#   before-newgen base relay      / new generator   (isolates the relay from the generator)
#   echo-before   base echo       / base generator  (the baseline of "before")
#   echo-after    new echo        / new generator   (the baseline of "after")
#   after-w2      new relay, workers = 2 / new generator (only if the new build has `workers`)
#
# Usage: host/benches/relay-perf.sh              (from anywhere in the repository)
# Env:   BASE_BIN=path (default target/perf-base/moneysocket; built from BASE_REV if absent)
#        BASE_REV=rev (default: the merge base with main)  OUT=dir (default target/relay-perf)
#        REPS=3  IDLE=10000 (0: skip)  STEPS="1:5000 10:5000 50:2000 100:1000 1000:100"
#        SKIP_BUILD=1  ONLY="after after-w2 echo-after" (run only these variants)
#        GEN_THREADS=N: the new generator runs N threads (bench relay --threads), for machines
#        with cores to spare (e.g. PIN= with the relay and the generator on their own cores)
#        PIN=cpus: run every server and generator under `taskset -c cpus` (PIN=0: all on one
#        core, so that each process is always busy when it runs: CPU-second figures then
#        depend much less on how loaded the rest of the machine is; PIN= to run unpinned)
set -euo pipefail
ulimit -n 20000
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p moneysocket-host >&2
NEW="$TARGET/release/moneysocket"
BASE=${BASE_BIN:-$TARGET/perf-base/moneysocket}
if [ ! -x "$BASE" ]; then
    REV=${BASE_REV:-$(git merge-base HEAD main)}
    echo "building the base ($REV) into $TARGET/perf-base" >&2
    WT=$(mktemp -d)
    git worktree add --detach "$WT" "$REV" >&2
    (cd "$WT" && CARGO_TARGET_DIR="$TARGET/perf-base-build" cargo build --release -p moneysocket-host >&2)
    mkdir -p "$(dirname "$BASE")"
    cp "$TARGET/perf-base-build/release/moneysocket" "$BASE"
    git worktree remove --force "$WT"
fi
OUT=${OUT:-$TARGET/relay-perf}
REPS=${REPS:-3}
IDLE=${IDLE:-10000}
STEPS=${STEPS:-"1:5000 10:5000 50:2000 100:1000 1000:100"}
PIN=${PIN-0}
TS=()
[ -z "$PIN" ] || TS=(taskset -c "$PIN")
mkdir -p "$OUT"
rm -f "$OUT"/*.json
. host/benches/lib.sh
CFG="$OUT/relay.toml"
bench_relay_config "$CFG"
HAS_WORKERS=
if "$NEW" relay --help 2>&1 | grep -q -- '--workers'; then
    HAS_WORKERS=1
    sed 's/^port = 0$/port = 0\nworkers = 2/' "$CFG" >"$OUT/relay-w2.toml"
fi

declare -A SURL SPID
start_server relay-base "${TS[@]}" "$BASE" relay --config "$CFG"; SURL[relay-base]=$URL; SPID[relay-base]=$PID
start_server relay-new "${TS[@]}" "$NEW" relay --config "$CFG"; SURL[relay-new]=$URL; SPID[relay-new]=$PID
start_server echo-base "${TS[@]}" "$BASE" bench echo --port 0; SURL[echo-base]=$URL; SPID[echo-base]=$PID
start_server echo-new "${TS[@]}" "$NEW" bench echo --port 0; SURL[echo-new]=$URL; SPID[echo-new]=$PID
VARIANTS="before after before-newgen echo-before echo-after"
if [ -n "$HAS_WORKERS" ]; then
    start_server relay-w2 "${TS[@]}" "$NEW" relay --config "$OUT/relay-w2.toml"; SURL[relay-w2]=$URL; SPID[relay-w2]=$PID
    VARIANTS="$VARIANTS after-w2"
fi
if [ -n "${ONLY:-}" ]; then
    kept=""
    for v in $VARIANTS; do case " $ONLY " in *" $v "*) kept="$kept $v" ;; esac; done
    VARIANTS=${kept# }
    [ -n "$VARIANTS" ] || { echo "ONLY=$ONLY names no variant" >&2; exit 1; }
fi

# run VARIANT PAIRS MESSAGES : one bench run, JSON in $OUT/VARIANT-PAIRS.REP.json
run() {
    local v=$1 n=$2 m=$3 server gen direct=""
    case $v in
        before) server=relay-base gen=$BASE ;;
        after) server=relay-new gen=$NEW ;;
        before-newgen) server=relay-base gen=$NEW ;;
        echo-before) server=echo-base gen=$BASE direct=--direct ;;
        echo-after) server=echo-new gen=$NEW direct=--direct ;;
        after-w2) server=relay-w2 gen=$NEW ;;
    esac
    local f="$OUT/$v-$n.$REP.json" threads=""
    # generator threads: only the new generator has --threads
    [ "$gen" = "$NEW" ] && [ "${GEN_THREADS:-1}" -gt 1 ] && threads="--threads $GEN_THREADS"
    "${TS[@]}" "$gen" bench relay --json --timeout 60 --url "${SURL[$server]}" --server-pid "${SPID[$server]}" \
        $direct $threads --pairs "$n" --messages "$m" --size 300 >"$f" || echo "  ($v-$n: run reported errors)" >&2
    jq -r --arg n "$v-$n" '"\($n): \(.forwarded_msgs_per_s // "-") fwd/s, p99 \(.latency_us.p99 // "-") µs, \(.forwarded_msgs_per_server_cpu_s // "-") per server CPU-s, errors \(.errors)"' "$f" >&2
    sleep 0.3
}

for REP in $(seq "$REPS"); do
    echo "--- repetition $REP/$REPS (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    k=$REP
    for step in $STEPS; do
        n=${step%%:*}; m=${step##*:}
        # rotate the order of the variants from one step (and repetition) to the next
        vs=($VARIANTS); order=()
        for i in "${!vs[@]}"; do order+=("${vs[$(( (i + k) % ${#vs[@]} ))]}"); done
        k=$((k + 1))
        for v in "${order[@]}"; do run "$v" "$n" "$m"; done
    done
done

if [ "$IDLE" -gt 0 ]; then
    for side in base new; do
        bin=$BASE; [ $side = new ] && bin=$NEW
        start_server "idle-$side" "${TS[@]}" "$bin" relay --config "$CFG"
        sleep 0.5
        "$NEW" bench relay --json --timeout 60 --url "$URL" --server-pid "$PID" --idle "$IDLE" --hold 3 \
            >"$OUT/idle-$side.1.json" || echo "  (idle $side: run reported errors)" >&2
        jq -r --arg s "$side" '"idle \($s): \(.waiting)/\(.idle) waiting, \(.server_rss_kib_per_conn) KiB per connection"' "$OUT/idle-$side.1.json" >&2
        kill "$PID"; wait "$PID" 2>/dev/null || true
    done
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; pinned to: ${PIN:-none}" | tee "$OUT/machine.txt" >&2

python3 - "$OUT" "$STEPS" "$VARIANTS" <<'PY' | tee "$OUT/summary.md"
import glob, json, os, statistics, sys
out, steps, variants = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
def runs(name):
    return [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, f"{name}.*.json")))]
def med(rs, get):
    vals = [v for v in (get(r) for r in rs) if v is not None]
    return statistics.median(vals) if vals else None
def us(v):
    if v is None: return "-"
    return f"{v/1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"
def num(v): return "-" if v is None else f"{v:,.0f}"
def gen_us(r):
    # the generator's CPU per forwarded message (older generators print only the percentage)
    if r.get("loadgen_cpu_us_per_msg") is not None: return r["loadgen_cpu_us_per_msg"]
    pct, fwd = r.get("loadgen_cpu_pct"), r.get("forwarded_msgs")
    return pct / 100 * r["elapsed_s"] * 1e6 / fwd if pct and fwd else None
label = {"before": "relay before", "after": "relay after", "before-newgen": "relay before, new generator",
         "echo-before": "echo before", "echo-after": "echo after", "after-w2": "relay after, workers = 2"}
print("| pairs | run | forwarded msgs/s | p50 | p99 | p99.9 | server CPU | fwd msgs per server CPU-s | generator CPU µs per msg | errors |")
print("|---|---|---|---|---|---|---|---|---|---|")
ratios = []
for step in steps:
    n = step.split(":")[0]
    for v in variants:
        rs = runs(f"{v}-{n}")
        if not rs: continue
        print(f"| {n} | {label[v]} | {num(med(rs, lambda r: r['forwarded_msgs_per_s']))} "
              f"| {us(med(rs, lambda r: r['latency_us']['p50']))} | {us(med(rs, lambda r: r['latency_us']['p99']))} "
              f"| {us(med(rs, lambda r: r['latency_us'].get('p999')))} | {med(rs, lambda r: r['server_cpu_pct'])}% "
              f"| {num(med(rs, lambda r: r['forwarded_msgs_per_server_cpu_s']))} "
              f"| {med(rs, gen_us) or 0:.2f} | {sum(r['errors'] for r in rs)} |")
    b, a = runs(f"before-{n}"), runs(f"after-{n}")
    pr = [x["forwarded_msgs_per_server_cpu_s"] / y["forwarded_msgs_per_server_cpu_s"] for x, y in zip(a, b)
          if x.get("forwarded_msgs_per_server_cpu_s") and y.get("forwarded_msgs_per_server_cpu_s")]
    gb, ga = [gen_us(r) for r in b], [gen_us(r) for r in a]
    gr = [y / x for x, y in zip(ga, gb) if x and y]
    ratios.append((n, pr, gr))
print()
print("after ÷ before, paired by repetition: relay forwards per relay CPU-second; generator messages per generator CPU-second")
for n, pr, gr in ratios:
    fmt = lambda xs: ", ".join(f"{x:.2f}" for x in xs) or "-"
    m = lambda xs: f"{statistics.median(xs):.2f}×" if xs else "-"
    print(f"* {n} pairs: relay {m(pr)} ({fmt(pr)}); generator {m(gr)} ({fmt(gr)})")
for side in ["base", "new"]:
    rs = runs(f"idle-{side}")
    if rs:
        print(f"* idle RSS per connection, {side}: {rs[0].get('server_rss_kib_per_conn')} KiB "
              f"({rs[0].get('waiting')} connections)")
PY
echo "results in $OUT/" >&2

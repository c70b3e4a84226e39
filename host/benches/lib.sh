# Shared by the relay benchmarks (sourced by relay-bench.sh and relay-perf.sh; needs OUT).

# bench_relay_config FILE: the relay settings of the benchmarks (every connection from one
# address; room for IDLE unpaired connections, whose default budget is half of
# max_connections).
bench_relay_config() {
    cat >"$1" <<'TOML'
port = 0
log_level = "warn"
stats_interval = 0
max_connections = 16384
max_per_ip = 0
max_unpaired = 16384
unpaired_timeout = 600.0
TOML
}

# Every server started is killed when the script exits.
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# start_server NAME CMD...: runs CMD (any prefix such as taskset or nice, the binary, its
# arguments) in the background, output in $OUT/NAME.out and .err; sets PID, and URL from
# its "listening at:" line (exits if it does not come within 5 s).
start_server() {
    local name=$1; shift
    : >"$OUT/$name.out"
    "$@" >>"$OUT/$name.out" 2>"$OUT/$name.err" &
    PID=$!
    PIDS+=("$PID")
    for _ in $(seq 100); do
        URL=$(sed -n 's/^listening at: //p' "$OUT/$name.out")
        [ -n "$URL" ] && return 0
        sleep 0.05
    done
    echo "$name did not start" >&2; exit 1
}

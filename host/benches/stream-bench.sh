#!/usr/bin/env bash
# Reproduces the "Streaming payments" numbers of docs/performance.md: `moneysocket bench
# stream` (client → relay → terminus on its simulated node, two accounts; the relay-only
# ping-pong through the same relay measured in the same run as the baseline; then the window
# and the 100 pays/s runs again through the wallet), REPS times,
# one markdown table row per run.
#
# Usage: host/benches/stream-bench.sh           (from anywhere in the repository)
# Env:   OUT=dir (default target/stream-bench)  REPS=3  SKIP_BUILD=1
#        ARGS="..." (extra `bench stream` options, e.g. "--window 16 --pays 5000")
#        NICE="nice -n -10" (prefix for the bench; the relay and terminus it starts inherit it,
#        to shield them from other work on a shared machine)
# Everything (relay, terminus, clients) runs on this machine and shares its cores and disk.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p moneysocket-host >&2
BIN="${NICE:-} target/release/moneysocket"
OUT=${OUT:-target/stream-bench}
REPS=${REPS:-3}
mkdir -p "$OUT"
rm -f "$OUT"/*.json

echo "| run | load avg | relay baseline: round trips/s (p50) | window: pays/s | p50 / p99 / p99.9 | same without the relay: pays/s | pays/s ÷ relay round trips/s | p50 in relay p50s | 100 pays/s: p50 / p99 / p99.9 | p99 in relay p50s | metered: events/s, settles, settled = accrued | through the wallet: pays/s, p50 / p99 | wallet at 100 pays/s: p99 | wallet total exact | balances exact |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for REP in $(seq "$REPS"); do
    f="$OUT/stream.$REP.json"
    load=$(cut -d' ' -f1 /proc/loadavg)
    # shellcheck disable=SC2086
    $BIN bench stream --json ${ARGS:-} >"$f" || echo "  (run $REP reported errors or missed a count, see $f)" >&2
    jq -r --arg rep "$REP" --arg load "$load" '
      def ms: if . == null then "-" else (. * 100 | round / 100 | tostring) + " ms" end;
      def r2: (. * 1000 | round / 1000 | tostring);
      "| \($rep) | \($load) | \(.baseline.round_trips_per_s | round) (\(.baseline.p50_ms | ms)) "
      + "| **\(.window_run.pays_per_s | round)** "
      + "| \(.window_run.latency_ms.p50 | ms) / \(.window_run.latency_ms.p99 | ms) / \(.window_run.latency_ms.p99_9 | ms) "
      + "| \(.window_run_without_relay.pays_per_s | round) | \(.ratios.pays_per_relay_round_trip | r2) | \(.ratios.window_p50_in_relay_rtts | round) "
      + "| \(.rate_run.run.latency_ms.p50 | ms) / **\(.rate_run.run.latency_ms.p99 | ms)** / \(.rate_run.run.latency_ms.p99_9 | ms) "
      + "| \(.ratios.rate_p99_in_relay_rtts | round) "
      + "| \(.metered.offered_events_per_s | round), \(.metered.settles), \(.metered.settled_msats == .metered.accrued_msats) "
      + "| \(.wallet.window_run.pays_per_s | round), \(.wallet.window_run.latency_ms.p50 | ms) / \(.wallet.window_run.latency_ms.p99 | ms) "
      + "| \(.wallet.rate_run.latency_ms.p99 | ms) | \(.wallet.exact) "
      + "| \(.balances_exact and .ledger_ok) |"' "$f"
    sleep 1
done

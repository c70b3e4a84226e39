#!/bin/sh
# Runs the six JS interop checks against a js-moneysocket checkout (see README.md).
# Usage: JSMS=/path/to/js-moneysocket [MS_BIN=/path/to/moneysocket] tests/interop/js/run_all.sh [1 2 3 4 5 6]
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${JSMS:?set JSMS to a js-moneysocket checkout with its node_modules (npm install)}"
: "${MS_BIN:=moneysocket}"
export JSMS MS_BIN
checks=${*:-1 2 3 4 5 6}
failed=0
for n in $checks; do
    echo "== check $n" >&2
    # every check has its own deadline inside; this is the outer bound
    if ! timeout 420 node --experimental-websocket "$here/check$n.js" 2>"${TMPDIR:-/tmp}/msjs-check$n.log"; then
        failed=$((failed + 1))
        echo "check $n FAILED (library log: ${TMPDIR:-/tmp}/msjs-check$n.log)" >&2
    fi
done
exit $failed

#!/bin/sh
# The unmodified Python reference consumer over wss against our relay and terminus, with a
# self-signed certificate made by `openssl req -x509` (CA:true): the Python side trusts it
# through SSL_CERT_FILE (twisted uses OpenSSL's default paths), ours through relay_ca_file.
# Usage: PYMS=/path/to/py-moneysocket PY=/path/to/venv/bin/python MS_BIN=/path/to/moneysocket \
#        tests/interop/python/wss.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${PYMS:?set PYMS to a py-moneysocket checkout}"
: "${PY:=python3}"
: "${MS_BIN:=moneysocket}"
export PYMS
d=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$d"; }
trap cleanup EXIT INT TERM
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$d/key.pem" -out "$d/cert.pem" -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost 2>/dev/null
"$MS_BIN" relay --port 0 --tls-cert "$d/cert.pem" --tls-key "$d/key.pem" > "$d/relay.out" 2>&1 &
pids="$pids $!"
cat > "$d/t.toml" <<TOML
relay_ca_file = "$d/cert.pem"
[listen]
external_host = "localhost"
tls_cert = "$d/cert.pem"
tls_key = "$d/key.pem"
TOML
mkdir "$d/t"
"$MS_BIN" terminus --config "$d/t.toml" --data-dir "$d/t" --listen 127.0.0.1:0 \
    --rpc 127.0.0.1:0 > "$d/terminus.out" 2>&1 &
pids="$pids $!"
for _ in $(seq 50); do
    grep -q "^control at:" "$d/terminus.out" 2>/dev/null && grep -q "^listening at:" "$d/relay.out" && break
    sleep 0.1
done
port=$(sed -n 's/^listening at: wss:\/\/.*:\([0-9]*\)$/\1/p' "$d/relay.out")
cli() { "$MS_BIN" terminus-cli --data-dir "$d/t" --no-qr "$@"; }
cli create 100000sat -a alice > /dev/null
cli create 0 -a bob > /dev/null
relay_beacon=$("$MS_BIN" beacon new --relay "wss://localhost:$port" --no-qr | head -1)
cli connect alice-0 "$relay_beacon" > /dev/null
listen_beacon=$(cli listen bob-0 | sed -n 's/.*"beacon": "\(moneysocket1[a-z0-9]*\)".*/\1/p')
fail=0
check() { if [ "$2" -eq 0 ]; then echo "pass: $1"; else echo "FAIL: $1 (exit $2)"; fail=1; fi; }
# 5a: Python consumer -> the terminus's own wss listener: invoice
set +e
SSL_CERT_FILE="$d/cert.pem" timeout 60 "$PY" "$here/driver.py" "$listen_beacon" --timeout 20 \
    --linger 0.5 --invoice 7000 --invoice-file "$d/inv.txt" > "$d/5a.out" 2>&1
check "5a Python consumer -> terminus wss listener: NOTIFY_INVOICE" $?
# 5b: Python consumer -> wss relay -> terminus (relay_ca_file): pay that invoice
SSL_CERT_FILE="$d/cert.pem" timeout 60 "$PY" "$here/driver.py" "$relay_beacon" --timeout 20 \
    --linger 0.5 --pay "$(cat "$d/inv.txt" 2>/dev/null)" > "$d/5b.out" 2>&1
check "5b Python consumer -> wss relay -> terminus: NOTIFY_PREIMAGE" $?
# 5c: balances moved and the ledger is consistent
cli getaccountinfo alice-0 bob-0 | tr -d ' \n' | grep -q '"msats":99993000.*"msats":7000'
check "5c balances 99,993,000 / 7,000 msat" $?
cli check | grep -q '"ok": true'
check "5c terminus-cli check" $?
# 5d: without SSL_CERT_FILE the Python side refuses the certificate (times out)
env -u SSL_CERT_FILE timeout 30 "$PY" "$here/driver.py" "$listen_beacon" --timeout 5 \
    --linger 0 > "$d/5d.out" 2>&1
[ $? -eq 3 ]
check "5d without SSL_CERT_FILE the library does not connect" $?
set -e
[ "$fail" -eq 0 ] && echo "ALL PASS" || { echo "FAILED"; exit 1; }

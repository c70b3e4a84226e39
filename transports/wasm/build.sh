#!/usr/bin/env bash
# Builds the browser package of moneysocket-wasm into host/src/web/pkg (committed, so that
# `cargo build` of the host needs neither the wasm32 target nor wasm-bindgen):
#   rustup target add wasm32-unknown-unknown
#   cargo install --locked wasm-bindgen-cli --version "$(this crate's wasm-bindgen version)"
#   transports/wasm/build.sh [--check]
# --check rebuilds into a temporary directory and fails if the committed files differ.
set -euo pipefail
cd "$(dirname "$0")/../.."
want=$(sed -n 's/^wasm-bindgen = "=\(.*\)"$/\1/p' transports/wasm/Cargo.toml)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "wasm-bindgen CLI ${have:-missing}, the crate uses $want:" >&2
  echo "  cargo install --locked wasm-bindgen-cli --version $want" >&2
  exit 1
fi
target_dir="${CARGO_TARGET_DIR:-target}"
cargo build -p moneysocket-wasm --target wasm32-unknown-unknown --profile wasm
out=host/src/web/pkg
if [ "${1:-}" = "--check" ]; then out=$(mktemp -d); fi
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section --out-dir "$out" \
  "$target_dir/wasm32-unknown-unknown/wasm/moneysocket_wasm.wasm"
raw=$(stat -c %s "$out/moneysocket_wasm_bg.wasm")
gz=$(gzip -9 -c "$out/moneysocket_wasm_bg.wasm" | wc -c)
echo "moneysocket_wasm_bg.wasm: $raw bytes, $gz bytes gzip -9"
if [ "${1:-}" = "--check" ]; then
  diff -q "$out/moneysocket_wasm.js" host/src/web/pkg/moneysocket_wasm.js
  cmp "$out/moneysocket_wasm_bg.wasm" host/src/web/pkg/moneysocket_wasm_bg.wasm
  echo "host/src/web/pkg is up to date"
fi

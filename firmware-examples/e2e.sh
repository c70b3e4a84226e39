#!/usr/bin/env bash
# The payment device end to end under QEMU, from a clean checkout: builds the firmware (cached
# in target/firmware) and the `moneysocket` binary, then runs host/tests/device.rs: the
# firmware on qemu-system-arm (lm3s6965evb), `moneysocket bridge` (TCP and serial/pty), relay
# and terminus (simulated node) on loopback. Passes only when the firmware exits through
# semihosting with success after both the sale and the purchase (and again after a dropped
# websocket and a relay restart). About 3 s once built.
# Usage: firmware-examples/e2e.sh   (needs qemu-system-arm; installs the Rust target)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v qemu-system-arm >/dev/null 2>&1; then
  echo "qemu-system-arm is missing: apt-get install -y qemu-system-arm" >&2
  exit 1
fi
rustup target add thumbv7em-none-eabihf >/dev/null 2>&1 || true
MONEYSOCKET_REQUIRE_QEMU=1 cargo test -p moneysocket-host --test device -- --nocapture

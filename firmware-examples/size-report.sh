#!/usr/bin/env bash
# Flash and RAM of the payment device firmware (consumer/, a Moneysocket consumer) vs. the same
# skeleton without it (the echo baseline). Peak stack is measured at run time (docs/firmware.md).
# Usage: firmware-examples/size-report.sh [--top N]   (installs the target and llvm-tools)
set -euo pipefail
cd "$(dirname "$0")"
TOP=0
[ "${1:-}" = "--top" ] && TOP="${2:-20}"

rustup target add thumbv7em-none-eabihf >/dev/null 2>&1
rustup component add llvm-tools >/dev/null 2>&1
BIN="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
SIZE="$BIN/llvm-size"
NM="$BIN/llvm-nm"
OUT=target/size
mkdir -p "$OUT"
ELF=target/thumbv7em-none-eabihf/release/consumer-size

# Its own target dir: with both variants fresh in one dir, cargo would not copy the
# requested one to target/…/release (the copy there is the last one built).
cargo build --release --quiet --features baseline --target-dir target/baseline
cp "target/baseline/thumbv7em-none-eabihf/release/consumer-size" "$OUT/baseline.elf"
# (--target-dir: a CARGO_TARGET_DIR in the environment must not move the ELF elsewhere)
cargo build --release --quiet --target-dir target
cp "$ELF" "$OUT/consumer.elf"

# section NAME ELF -> bytes (0 if absent)
section() { "$SIZE" -A "$2" | awk -v s="$1" '$1 == s { print $2; f=1 } END { if (!f) print 0 }'; }

printf '%-10s %8s %8s %8s %8s %10s %10s\n' variant vectors .text .rodata .data "flash" "RAM(static)"
declare -A FLASH
for v in baseline consumer; do
  e="$OUT/$v.elf"
  vt=$(section .vector_table "$e"); t=$(section .text "$e"); r=$(section .rodata "$e")
  d=$(section .data "$e"); b=$(section .bss "$e")
  FLASH[$v]=$((vt + t + r + d))
  printf '%-10s %8d %8d %8d %8d %10d %10d\n' "$v" "$vt" "$t" "$r" "$d" "${FLASH[$v]}" $((d + b))
done
delta=$((FLASH[consumer] - FLASH[baseline]))
awk -v c="${FLASH[consumer]}" -v d="$delta" 'BEGIN {
  printf "device firmware flash: %d bytes, %.1f KiB (goal 48,000 bytes: %d to spare); cost over the baseline: %d bytes (%.1f KiB)\n", c, c/1024, 48000 - c, d, d/1024 }'

# Symbols as "size name" (decimal), text/rodata only; mawk has no strtonum, so bash converts.
symbols() {
  "$NM" -S -C --size-sort -r "$1" | while read -r _addr size kind name; do
    [ -n "${name:-}" ] || continue
    case "$kind" in t|T|r|R) echo "$((16#$size)) $name" ;; esac
  done
}

# The consumer's static slot has size_of::<DeviceConsumer>() bytes (src/main.rs: the text store,
# QUEUE and PENDING); FRAME_BUF is the one frame buffer its frames are opened and sealed in.
sym_size() {
  local s
  s=$("$NM" -S -C "$OUT/consumer.elf" | awk -v n="__cortex_m_rt_main_trampoline::$1" '$4 ~ n { print $2 }')
  echo $((16#${s:-0}))
}
echo "size_of::<Consumer<heapless::Vec<u8, 1024>, 6, 2>>() on thumbv7em: $(sym_size CONSUMER) bytes (in .bss)"
echo "frame buffer (FRAME_BUF): $(sym_size FRAME_BUF) bytes (in .bss)"
echo "BOLT11 to pay (PAY_TEXT): $(sym_size PAY_TEXT) bytes (in .bss)"

# f64 formatting/parsing pulled in (costly on Cortex-M)?
symbols "$OUT/consumer.elf" > "$OUT/consumer.symbols"
# (grep finds nothing when no float code is linked: not an error under pipefail)
{ grep -E 'flt2dec|dec2flt|fmt::float|bignum|PyFloat|f64 as core::fmt' "$OUT/consumer.symbols" || true; } | awk '
  { n++; s += $1 }
  END { if (n) printf "float formatting/parsing linked in: %d symbols, %d bytes\n", n, s;
        else print "float formatting/parsing linked in: none" }'

if [ "$TOP" -gt 0 ]; then
  echo "top $TOP flash symbols (consumer):"
  head -n "$TOP" "$OUT/consumer.symbols" | awk '{ printf "%7d %s\n", $1, substr($0, index($0, " ") + 1) }'
fi

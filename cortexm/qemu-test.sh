#!/usr/bin/env bash
# qemu-test.sh: runs the cortexm module on emulated Cortex-M microcontrollers
# with the TinyGo found on PATH (0.31 or later) and qemu-system-arm.
#
#  1. tinygo test -target=cortex-m-qemu ./...   (the module's tests, Cortex-M3)
#  2. the simulator examples (examples/blinky, examples/uartecho) built for
#     cortex-m-qemu and run on QEMU's lm3s6965evb machine;
#  3. examples/qemuirq, the real port (PRIMASK, WFI, NVIC interrupts from a
#     hardware timer and from software), built with -gc=none -scheduler=none,
#     on lm3s6965evb (Cortex-M3) and on microbit (nRF51, Cortex-M0), the
#     latter with the example's own target file and, when this TinyGo has
#     its generated device/nrf package, with TinyGo's microbit target;
#
# each example's output is compared with its testdata/trace.txt, and the
# flash and RAM sizes of each program are printed. It exits non-zero on any
# failure or difference. QEMU runs with -icount, so that the guest's clock
# follows its instructions and every run is the same.
#
# No TinyGo? ../../shared/tools/tinygo/setup.sh builds 0.33.0 from the
# sources that the search tool's fetch brings (github:tinygo-org/tinygo and
# github:picolibc/picolibc); see its header.
set -euo pipefail
cd "$(dirname "$0")"

for tool in tinygo qemu-system-arm; do
  if ! command -v "$tool" >/dev/null; then
    echo "qemu-test.sh: $tool not found on PATH" >&2
    exit 2
  fi
done
size=$(command -v arm-none-eabi-size || command -v llvm-size || command -v llvm-size-15 || true)
nm=$(command -v arm-none-eabi-nm || command -v llvm-nm || command -v llvm-nm-15 || true)
tinygo version

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# fail reports a failed step and marks the run as failed.
fail() {
  echo "FAIL: $*"
  failed=1
}

echo "== tinygo test -target=cortex-m-qemu ./..."
if ! tinygo test -target=cortex-m-qemu ./...; then
  fail "tinygo test"
fi

# sizes ELF: flash (code, read-only data and .data's initial values), static
# RAM (.data and .bss, without the stack), the stack, and the executor's own
# storage (the program's ex, slots and lists, when it names them).
sizes() {
  local elf=$1
  if [ -z "$size" ]; then
    echo "   sizes: no arm-none-eabi-size or llvm-size on PATH"
    return
  fi
  "$size" -A "$elf" | awk '
    $1 == ".text" || $1 == ".tinygo_stacksizes" { flash += $2 }
    $1 == ".data" { flash += $2; ram += $2 }
    $1 == ".bss" { ram += $2 }
    $1 == ".stack" { stack = $2 }
    END { printf "   flash %d bytes, RAM %d bytes static + %d bytes of stack\n", flash, ram, stack }'
  if [ -n "$nm" ]; then
    "$nm" -S -t d "$elf" | awk '
      $4 == "main.ex" || $4 == "main.slots" || $4 == "main.lists" { n += $2; names = names " " $4 }
      END { if (n) printf "   executor storage %d bytes (%s)\n", n, substr(names, 2) }'
  fi
}

# check NAME MACHINE TARGET PKG [tinygo build flags...]: builds PKG, runs it
# on MACHINE and compares its output with PKG/testdata/trace.txt.
check() {
  local name=$1 machine=$2 target=$3 pkg=$4
  shift 4
  local elf="$tmp/$name.elf" got="$tmp/$name.out"
  echo "== $name: tinygo build -target=$target${*:+ $*} $pkg; qemu-system-arm -machine $machine"
  if ! tinygo build -target="$target" "$@" -o "$elf" "$pkg"; then
    fail "$name: build"
    return
  fi
  sizes "$elf"
  # The simulator examples print through the UART (QEMU's serial port,
  # here stdout), qemuirq through semihosting, whose console QEMU 7 sends to
  # stderr unless given a chardev: here a file, appended to the output.
  local status=0
  timeout 120 qemu-system-arm -machine "$machine" -nographic -monitor none -serial stdio \
    -chardev file,id=semihosting,path="$tmp/$name.semihosting" \
    -semihosting-config enable=on,target=native,chardev=semihosting \
    -icount shift=4,sleep=off -kernel "$elf" </dev/null >"$got" 2>"$tmp/$name.err" || status=$?
  if [ "$status" -ne 0 ]; then
    fail "$name: qemu-system-arm exited with status $status"
    cat "$tmp/$name.err" "$got" "$tmp/$name.semihosting"
    return
  fi
  cat "$tmp/$name.semihosting" >>"$got"
  if ! diff -u "$pkg/testdata/trace.txt" "$got"; then
    fail "$name: output differs from $pkg/testdata/trace.txt"
    return
  fi
  echo "   output matches $pkg/testdata/trace.txt ($(wc -l <"$got") lines)"
}

check blinky lm3s6965evb cortex-m-qemu ./examples/blinky
check uartecho lm3s6965evb cortex-m-qemu ./examples/uartecho
check qemuirq-m3 lm3s6965evb examples/qemuirq/lm3s6965evb.json ./examples/qemuirq -gc=none -scheduler=none
check qemuirq-m0 microbit examples/qemuirq/microbit-qemu.json ./examples/qemuirq -gc=none -scheduler=none
# TinyGo's own microbit target needs device/nrf, which `make gen-device`
# generates from the lib/nrfx submodule: a git archive of TinyGo (what
# setup.sh unpacks) has neither. README.md says how to add them.
if [ -f "$(tinygo env TINYGOROOT)/src/device/nrf/nrf51.go" ]; then
  check qemuirq-microbit microbit microbit ./examples/qemuirq -gc=none -scheduler=none
else
  echo "== qemuirq-microbit skipped: this TinyGo has no generated device/nrf package (see README.md)"
fi

if [ "$failed" -ne 0 ]; then
  echo "qemu-test.sh: FAILED"
  exit 1
fi
echo "qemu-test.sh: all passed"

#!/usr/bin/env bash
# tinygo-nrf.sh: adds to a TinyGo built by ../shared/tools/tinygo/setup.sh
# what its microbit (nRF51) target needs and a git archive of TinyGo leaves
# out: the device/nrf package, which TinyGo's `make gen-device` generates
# from the SVD files of its lib/nrfx submodule, and the CMSIS core headers
# (lib/CMSIS) that nRF's startup code includes. qemu-test.sh runs examples/
# qemuirq on TinyGo's microbit target once they are there.
#
# usage: TINYGO_GIT=DIR NRFX_GIT=DIR CMSIS_GIT=DIR tinygo-nrf.sh [PREFIX]
#   bare git directories of github:tinygo-org/tinygo,
#   github:NordicSemiconductor/nrfx and github:ARM-software/CMSIS (from the
#   search tool's fetch); PREFIX as given to setup.sh (~/.cache/tinygo-0.33).
set -euo pipefail
: "${TINYGO_GIT:?}" "${NRFX_GIT:?}" "${CMSIS_GIT:?}"
P=${1:-$HOME/.cache/tinygo-0.33}
cd "$P/src"
# The submodules' commits, as TinyGo v0.33.0 pins them.
nrfx=$(git --git-dir="$TINYGO_GIT" rev-parse v0.33.0:lib/nrfx)
cmsis=$(git --git-dir="$TINYGO_GIT" rev-parse v0.33.0:lib/CMSIS)
mkdir -p lib/nrfx lib/CMSIS
git --git-dir="$NRFX_GIT" archive "$nrfx" mdk | tar x -C lib/nrfx
# (A snapshot that lacks some blobs of CMSIS's DSP examples makes git
# archive print "invalid object" for one of them; CMSIS/Include is whole.)
git --git-dir="$CMSIS_GIT" archive "$cmsis" CMSIS/Include | tar x -C lib/CMSIS
test -f lib/CMSIS/CMSIS/Include/core_cm0.h
# Generate device/nrf with TinyGo's own generator, built with the Go that
# setup.sh built TinyGo with.
GO123=$(GOTOOLCHAIN=go1.23.12 go env GOROOT)
export PATH="$GO123/bin:$PATH" GOTOOLCHAIN=local GOFLAGS=
go build -o "$P/bin/gen-device-svd" ./tools/gen-device-svd/
if ! "$P/bin/gen-device-svd" -source=https://github.com/NordicSemiconductor/nrfx/tree/master/mdk \
  lib/nrfx/mdk/ src/device/nrf/ >"$P/gen-device-nrf.log" 2>&1; then
  cat "$P/gen-device-nrf.log"
  exit 1
fi
gofmt -w src/device/nrf
ls src/device/nrf/nrf51.go

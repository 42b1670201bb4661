#!/usr/bin/env bash
# Builds tether and runs its whole test suite (unit tests, examples, build tests, tether-kv's tests).
#   scripts/test.sh            the debug build (the README's test command)
#   scripts/test.sh asan       AddressSanitizer + UBSan
#   scripts/test.sh tsan       ThreadSanitizer
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-debug}"
scripts/install-deps.sh kv
jobs="${TETHER_JOBS:-$(nproc)}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
ctest --preset "$preset" -j "$jobs"

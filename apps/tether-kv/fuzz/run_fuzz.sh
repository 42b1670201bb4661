#!/usr/bin/env bash
# Builds the RESP parser's libFuzzer target with clang and runs it for a bounded time.
#   run_fuzz.sh <apps/tether-kv source dir> <build dir> <seconds>
# Exit 77 (CTest: skipped) when clang++ or libFuzzer is unavailable, with the reason printed.
set -euo pipefail
SRC=$1
BUILD=$2
SECS=${3:-20}
CXX=${TETHER_KV_FUZZ_CXX:-$(command -v clang++ || true)}
if [ -z "$CXX" ]; then
  echo "SKIP: clang++ not found; install it with scripts/install-deps.sh kv to fuzz the RESP parser"
  exit 77
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' >"$probe/p.cpp"
if ! "$CXX" -fsanitize=fuzzer "$probe/p.cpp" -o "$probe/p" 2>"$probe/err"; then
  echo "SKIP: $CXX cannot link libFuzzer (install libclang-rt-14-dev): $(head -n 3 "$probe/err")"
  exit 77
fi
# The fuzz build is independent of the enclosing build's compiler and sanitizer.
env -u CXXFLAGS -u LDFLAGS cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTETHER_KV_FUZZ=ON >"$probe/cmake.log" 2>&1 || { cat "$probe/cmake.log"; exit 1; }
cmake --build "$BUILD" --target tether_kv_resp_fuzz -j2
mkdir -p "$BUILD/corpus"
# Seeds: a few well-formed and malformed requests.
printf '*2\r\n$3\r\nGET\r\n$1\r\nk\r\n' >"$BUILD/corpus/seed-get"
printf 'PING\r\nSET "a b" c\r\n' >"$BUILD/corpus/seed-inline"
printf '*1\r\n$99999999999\r\n' >"$BUILD/corpus/seed-huge"
"$BUILD/tether_kv_resp_fuzz" -max_total_time="$SECS" -rss_limit_mb=2048 -print_final_stats=1 "$BUILD/corpus"

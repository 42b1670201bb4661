#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then builds a consumer project against it twice:
# with find_package(tether) and with pkg-config. Usage: check_install.sh <build-dir> <source-dir>
set -euo pipefail
build="$1"
src="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/tests/install/consumer" -B "$work/cmake-build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
"$work/cmake-build/consumer" | grep -qx "consumer ok 42"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib/x86_64-linux-gnu/pkgconfig"
# shellcheck disable=SC2046
c++ "$src/tests/install/consumer/main.cpp" -o "$work/pc-consumer" $(pkg-config --cflags --libs --static tether)
"$work/pc-consumer" | grep -qx "consumer ok 42"
echo "install check ok: find_package and pkg-config consumers built and ran"

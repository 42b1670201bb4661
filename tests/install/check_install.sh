#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then builds a consumer project against it twice:
# with find_package(tether) and with pkg-config; when the build has tether::nats, does the same for
# a consumer of the nats component. Usage: check_install.sh <build-dir> <source-dir>
set -euo pipefail
build="$1"
src="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/tests/install/consumer" -B "$work/cmake-build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
"$work/cmake-build/consumer" | grep -qx "consumer ok 42"
# A plain find_package(tether) must not look for libnats, even when the nats component is installed.
if grep -q LIBNATS "$work/cmake-build/CMakeCache.txt"; then
  echo "plain find_package(tether) looked for libnats" >&2
  exit 1
fi
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib/x86_64-linux-gnu/pkgconfig"
# shellcheck disable=SC2046
c++ "$src/tests/install/consumer/main.cpp" -o "$work/pc-consumer" $(pkg-config --cflags --libs --static tether)
"$work/pc-consumer" | grep -qx "consumer ok 42"
echo "install check ok: find_package and pkg-config consumers built and ran"

# Asking for a component that does not exist fails at configure time and names it.
mkdir -p "$work/nosuch"
cat >"$work/nosuch/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(tether_nosuch LANGUAGES CXX)
find_package(tether REQUIRED COMPONENTS nosuch)
CMAKE
if cmake -S "$work/nosuch" -B "$work/nosuch-build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >"$work/nosuch.log" 2>&1; then
  echo "find_package(tether REQUIRED COMPONENTS nosuch) succeeded" >&2
  exit 1
fi
grep -q "missing required component(s): nosuch" "$work/nosuch.log"
echo "install check ok: find_package(tether REQUIRED COMPONENTS nosuch) failed as it should:"
grep -A1 "missing required component" "$work/nosuch.log"

# OPTIONAL_COMPONENTS: tether is found either way; nats exactly when its targets file is installed.
mkdir -p "$work/optional"
cat >"$work/optional/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(tether_optional LANGUAGES CXX)
find_package(tether REQUIRED OPTIONAL_COMPONENTS nats nosuch)
if(tether_nosuch_FOUND)
  message(FATAL_ERROR "tether_nosuch_FOUND is set")
endif()
if(tether_nats_FOUND AND NOT TARGET tether::nats)
  message(FATAL_ERROR "tether_nats_FOUND without tether::nats")
endif()
message(STATUS "tether_nats_FOUND=${tether_nats_FOUND}")
CMAKE
nats_found="$(cmake -S "$work/optional" -B "$work/optional-build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" |
  sed -n 's/^-- tether_nats_FOUND=//p')"
if find "$work/prefix" -name tetherNatsTargets.cmake | grep -q .; then
  [ "$nats_found" = TRUE ] || { echo "OPTIONAL_COMPONENTS nats: tether_nats_FOUND=$nats_found" >&2; exit 1; }
else
  [ "$nats_found" = FALSE ] || { echo "OPTIONAL_COMPONENTS nats: tether_nats_FOUND=$nats_found" >&2; exit 1; }
  echo "nats component not built; skipped"
  exit 0
fi
cmake -S "$src/tests/install/nats_consumer" -B "$work/nats-build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/nats-build" >/dev/null
"$work/nats-build/nats_consumer" | grep -qx "nats consumer ok"
# shellcheck disable=SC2046
c++ "$src/tests/install/nats_consumer/main.cpp" -o "$work/pc-nats-consumer" $(pkg-config --cflags --libs --static tether-nats)
"$work/pc-nats-consumer" | grep -qx "nats consumer ok"
echo "install check ok: nats component consumers (find_package COMPONENTS nats and tether-nats.pc) built and ran"

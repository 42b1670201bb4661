#!/usr/bin/env bash
# Installs the Debian packages tether needs. Idempotent: installs only what is missing.
#   scripts/install-deps.sh            build + tests (compiler, CMake, Ninja, GoogleTest, spdlog, ...)
#   scripts/install-deps.sh bench      also the peer runtimes and tools of the benchmark suite
#   scripts/install-deps.sh kv         also the Redis tools that tether-kv's integration tests drive
set -euo pipefail

base=(g++ cmake ninja-build pkg-config libgtest-dev libgmock-dev libbenchmark-dev
      libspdlog-dev libfmt-dev liburing-dev redis-tools time clang-format git libnats-dev nats-server)
bench=(golang-go cargo librust-tokio-dev libboost1.81-dev redis-server libcaf-dev python3)
kv=(redis-tools redis-server clang libclang-rt-14-dev)

want=("${base[@]}")
for extra in "$@"; do
  case "$extra" in
    bench) want+=("${bench[@]}") ;;
    kv) want+=("${kv[@]}") ;;
    *) echo "install-deps: unknown group '$extra' (known: bench, kv)" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# Builds tether (release) and starts its main program: tether-kv, the Redis-protocol key-value
# server, on 127.0.0.1:6380 with its data in ./tether-kv-data. Extra arguments go to tether-kv
# (e.g. scripts/run.sh --appendfsync always; see --help). Stop it with Ctrl-C (graceful shutdown).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release -DTETHER_BUILD_APPS=ON >/dev/null
cmake --build --preset release -j "$(nproc)" --target tether-kv
echo "tether-kv: starting on 127.0.0.1:6380 -- connect with: redis-cli -p 6380"
exec build/release/apps/tether-kv/tether-kv "$@"

#!/usr/bin/env bash
# tether-kv vs Debian's redis-server 7, side by side in one run, with redis-benchmark.
#
#   bench/kv/run.sh [-n REQUESTS] [-c CLIENTS] [--tether PATH] [--tests set,get,incr,mset]
#
# Starts both servers the same way (loopback, free ports, append-only log with appendfsync
# everysec, no RDB snapshots, a fresh temp data dir each), runs
#   redis-benchmark -t <tests> -n <N> -c <C> -P 1   and   -P 16
# against each, alternating servers per pipeline depth so that machine noise hits both, and prints
# requests/s and p99 latency per test plus the tether-kv / redis ratio (higher rps is better;
# p99 ratio below 1 is better). Both servers are stopped (SIGTERM, then waited for) on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

N=1000000
C=50
TESTS=set,get,incr,mset
TETHER=build/release/apps/tether-kv/tether-kv
while [ $# -gt 0 ]; do
  case "$1" in
    -n) N=$2; shift 2 ;;
    -c) C=$2; shift 2 ;;
    --tests) TESTS=$2; shift 2 ;;
    --tether) TETHER=$2; shift 2 ;;
    *) echo "usage: $0 [-n N] [-c C] [--tests LIST] [--tether PATH]" >&2; exit 2 ;;
  esac
done
for t in redis-server redis-benchmark; do
  command -v $t >/dev/null || { echo "$t missing: scripts/install-deps.sh kv" >&2; exit 1; }
done
if [ ! -x "$TETHER" ]; then
  cmake --preset release -DTETHER_BUILD_APPS=ON >/dev/null
  cmake --build --preset release -j2 --target tether-kv
fi

WORK=$(mktemp -d /tmp/tether-kv-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() {
  for _ in $(seq 200); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "server on port $1 did not start" >&2; exit 1
}

KV_PORT=$(free_port)
mkdir -p "$WORK/kv" "$WORK/redis"
"$TETHER" --port "$KV_PORT" --dir "$WORK/kv" --appendfsync everysec >"$WORK/kv.log" 2>&1 &
PIDS+=($!)
wait_ready "$KV_PORT"
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --appendonly yes \
  --appendfsync everysec --save '' --daemonize no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
wait_ready "$REDIS_PORT"

# run <port> <P>: redis-benchmark --csv; prints "test rps p99" lines.
run() {
  redis-benchmark -h 127.0.0.1 -p "$1" -t "$TESTS" -n "$N" -c "$C" -P "$2" --csv 2>/dev/null |
    python3 -c '
import csv, sys
rows = list(csv.reader(sys.stdin))
head = rows[0]
for r in rows[1:]:
    d = dict(zip(head, r))
    name = d["test"].split(" ")[0]
    print(name, d["rps"], d.get("p99_latency_ms", "nan"))
'
}

echo "redis-benchmark -t $TESTS -n $N -c $C; tether-kv $("$TETHER" --help >/dev/null; echo "on :$KV_PORT"), $(redis-server --version | cut -d' ' -f1-3) on :$REDIS_PORT"
echo "host: $(nproc) cores, $(uname -r)"
printf '%-5s %-3s %14s %14s %7s   %10s %10s %7s\n' test P "tether-kv rps" "redis rps" ratio "kv p99 ms" "redis p99" ratio
for P in 1 16; do
  run "$KV_PORT" "$P" >"$WORK/kv.$P"
  run "$REDIS_PORT" "$P" >"$WORK/redis.$P"
  join <(sort "$WORK/kv.$P") <(sort "$WORK/redis.$P") | while read -r t krps kp99 rrps rp99; do
    python3 -c "
t,P,kr,kp,rr,rp='$t','$P',float('$krps'),float('$kp99'),float('$rrps'),float('$rp99')
print(f'{t:<5} {P:<3} {kr:14.0f} {rr:14.0f} {kr/rr:7.2f}   {kp:10.3f} {rp:10.3f} {kp/rp if rp else float(\"nan\"):7.2f}')
"
  done
done

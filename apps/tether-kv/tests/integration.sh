#!/usr/bin/env bash
# Integration tests of the real tether-kv binary, driven by the real redis-cli and redis-benchmark.
#
#   integration.sh <path to tether-kv> <case>
#
# Each case starts its own server on a free loopback port (--port 0; the port is read from the
# server's "ready on" line) with its own temporary data dir, and every process it starts is killed
# and waited for on exit (trap). TETHER_KV_TEST_SLOW=1 (sanitizer builds) shrinks request counts
# and stretches waits. Cases: basic pipeline pubsub pubsub_overflow expiry maxclients durability
# sigterm sigterm_during_load bad_input rewrite idle_timeout
set -euo pipefail

BIN=$1
CASE=$2
SLOW=${TETHER_KV_TEST_SLOW:-0}
if [ "$SLOW" = 1 ]; then N_SMALL=200; WAIT=60; else N_SMALL=2000; WAIT=20; fi

for tool in redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (scripts/install-deps.sh kv)"; exit 77; }
done

WORK=$(mktemp -d /tmp/tether-kv-test.XXXXXX)
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [ $rc -ne 0 ]; then
    echo "---- server logs ($CASE) ----"
    for f in "$WORK"/server.*.log; do [ -f "$f" ] && { echo "== $f"; tail -n 40 "$f"; }; done
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL ($CASE): $*" >&2; exit 1; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; }
expect_contains() { case "$1" in *"$2"*) ;; *) fail "$3: expected to contain '$2', got '$1'";; esac; }

SERVERS=0
# start_server <dir> [args...]: sets PORT and SERVER_PID.
start_server() {
  local dir=$1; shift
  SERVERS=$((SERVERS + 1))
  local log="$WORK/server.$SERVERS.log"
  "$BIN" --port 0 --bind 127.0.0.1 --dir "$dir" "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local i
  for ((i = 0; i < WAIT * 20; i++)); do
    if PORT=$(sed -n 's/.*ready on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n1) && [ -n "$PORT" ]; then
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || fail "server exited during startup: $(cat "$log")"
    sleep 0.05
  done
  fail "server did not become ready"
}

# stop_server_kill9: kill -9 the current server and reap it.
kill9_server() {
  kill -9 "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
}

cli() { redis-cli -h 127.0.0.1 -p "$PORT" "$@"; }

# poll <seconds> <command...>: retry until the command succeeds.
poll() {
  local secs=$1; shift
  local i
  for ((i = 0; i < secs * 20; i++)); do
    if "$@"; then return 0; fi
    sleep 0.05
  done
  return 1
}

# raw <bytes>: sends bytes on a fresh connection and prints what comes back until the server
# closes it (bounded by timeout).
raw() {
  timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; printf '$1' >&3; cat <&3" | tr -d '\r'
}

case_basic() {
  start_server "$WORK/data"
  expect_eq "$(cli ping)" "PONG" "PING"
  expect_eq "$(cli echo 'hello world')" "hello world" "ECHO"
  expect_eq "$(cli set k1 v1)" "OK" "SET"
  expect_eq "$(cli get k1)" "v1" "GET"
  expect_eq "$(cli get missing)" "" "GET missing"
  expect_eq "$(cli set k1 v2 nx)" "" "SET NX on existing"
  expect_eq "$(cli set k1 v3 xx get)" "v1" "SET XX GET"
  expect_eq "$(cli setnx k2 a)" "1" "SETNX"
  expect_eq "$(cli getset k2 b)" "a" "GETSET"
  expect_eq "$(cli getdel k2)" "b" "GETDEL"
  expect_eq "$(cli mset a 1 b 2 c 3)" "OK" "MSET"
  expect_eq "$(cli mget a b nope c | tr '\n' ,)" "1,2,,3," "MGET"
  expect_eq "$(cli incr counter)" "1" "INCR"
  expect_eq "$(cli incrby counter 41)" "42" "INCRBY"
  expect_eq "$(cli decr counter)" "41" "DECR"
  expect_eq "$(cli decrby counter 40)" "1" "DECRBY"
  expect_eq "$(cli append s abc)" "3" "APPEND"
  expect_eq "$(cli strlen s)" "3" "STRLEN"
  expect_eq "$(cli exists a b nope)" "2" "EXISTS"
  expect_eq "$(cli del a b nope)" "2" "DEL"
  expect_eq "$(cli type c)" "string" "TYPE"
  expect_eq "$(cli type nope)" "none" "TYPE none"
  expect_eq "$(cli expire c 100)" "1" "EXPIRE"
  expect_contains "$(cli ttl c)" "10" "TTL"
  expect_eq "$(cli persist c)" "1" "PERSIST"
  expect_eq "$(cli ttl c)" "-1" "TTL after PERSIST"
  expect_eq "$(cli keys 'k*')" "k1" "KEYS"
  expect_eq "$(cli --scan --pattern 'coun*')" "counter" "SCAN MATCH"
  expect_eq "$(cli select 0)" "OK" "SELECT 0"
  expect_eq "$(cli dbsize)" "4" "DBSIZE"
  # Error replies, as Redis words them; the connection stays usable afterwards.
  # (redis-cli prints a blank line after each error when not on a terminal: dropped.)
  expect_eq "$(printf 'NOSUCH a b\nGET\nINCR k1\nSELECT 1\nSET a b EX 0\nPING\n' | cli | grep -v '^$')" \
    "$(printf "ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \nERR wrong number of arguments for 'get' command\nERR value is not an integer or out of range\nERR DB index is out of range\nERR invalid expire time in 'set' command\nPONG")" \
    "error replies"
  # Connection-level commands.
  expect_eq "$(printf 'CLIENT SETNAME tester\nCLIENT GETNAME\n' | cli | tr '\n' ,)" "OK,tester," "CLIENT SETNAME/GETNAME"
  expect_contains "$(cli info)" "# Runtime" "INFO runtime section"
  expect_contains "$(cli info server)" "redis_version:" "INFO server"
  expect_contains "$(cli info persistence)" "aof_enabled:1" "INFO persistence"
  expect_contains "$(cli info clients)" "connected_clients:" "INFO clients"
  expect_contains "$(cli info stats)" "total_commands_processed:" "INFO stats"
  [ "$(cli command count)" -gt 30 ] || fail "COMMAND COUNT"
  expect_contains "$(cli command info get | tr '\n' ,)" "get,2," "COMMAND INFO"
  expect_eq "$(cli flushall)" "OK" "FLUSHALL"
  expect_eq "$(cli dbsize)" "0" "DBSIZE after FLUSHALL"
  expect_eq "$(raw 'PING\r\nQUIT\r\nPING\r\n' | tr '\n' ,)" "+PONG,+OK," "QUIT replies, then closes"
}

case_pipeline() {
  start_server "$WORK/data"
  # 1. redis-cli --pipe: the whole stream in one go, all replies counted.
  local i
  for ((i = 0; i < N_SMALL; i++)); do printf 'SET key:%d value:%d\r\n' "$i" "$i"; done >"$WORK/cmds.txt"
  local out
  out=$(cli --pipe <"$WORK/cmds.txt")
  expect_contains "$out" "errors: 0, replies: $N_SMALL" "redis-cli --pipe"
  expect_eq "$(cli dbsize)" "$N_SMALL" "DBSIZE after --pipe"
  expect_eq "$(cli get key:7)" "value:7" "GET after --pipe"
  # 2. Several requests in one packet get their replies together.
  exec 3<>"/dev/tcp/127.0.0.1/$PORT"
  printf '*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\nPING\r\n' >&3
  local l1 l2 l3 l4
  read -r -t 10 l1 <&3; read -r -t 10 l2 <&3; read -r -t 10 l3 <&3; read -r -t 10 l4 <&3
  exec 3<&-
  expect_eq "$l1|$l2|$l3|$l4" $'+PONG\r|$7\r|value:1\r|+PONG\r' "raw pipelined replies"
  # 3. redis-benchmark with -P 16.
  out=$(redis-benchmark -h 127.0.0.1 -p "$PORT" -t set,get,incr,mset -n "$N_SMALL" -c 8 -P 16 -q 2>&1)
  expect_contains "$out" "SET:" "redis-benchmark SET"
  expect_contains "$out" "MSET" "redis-benchmark MSET"
  case "$out" in *rror*) fail "redis-benchmark reported errors: $out";; esac
  out=$(redis-benchmark -h 127.0.0.1 -p "$PORT" -t ping,set,get -n "$((N_SMALL / 4))" -c 4 -P 1 -q 2>&1)
  expect_contains "$out" "GET:" "redis-benchmark -P 1"
}

case_pubsub() {
  start_server "$WORK/data"
  redis-cli -p "$PORT" subscribe news >"$WORK/sub.out" 2>&1 &
  local sub=$!
  PIDS+=("$sub")
  redis-cli -p "$PORT" psubscribe 'wea*' >"$WORK/psub.out" 2>&1 &
  local psub=$!
  PIDS+=("$psub")
  # Wait until both subscriptions are active (PUBLISH counts its receivers).
  poll "$WAIT" bash -c "[ \"\$(redis-cli -p $PORT publish news ping)\" = 1 ]" || fail "subscriber never registered"
  poll "$WAIT" bash -c "[ \"\$(redis-cli -p $PORT publish weather ping)\" = 1 ]" || fail "psubscriber never registered"
  expect_eq "$(cli publish news hello)" "1" "PUBLISH to channel"
  expect_eq "$(cli publish weather sunny)" "1" "PUBLISH to pattern"
  expect_eq "$(cli publish nobody x)" "0" "PUBLISH without subscribers"
  poll "$WAIT" grep -q hello "$WORK/sub.out" || fail "subscriber did not get the message"
  poll "$WAIT" grep -q sunny "$WORK/psub.out" || fail "psubscriber did not get the message"
  expect_eq "$(head -n 3 "$WORK/sub.out" | tr '\n' ,)" "subscribe,news,1," "SUBSCRIBE confirmation"
  expect_contains "$(tr '\n' , <"$WORK/psub.out")" "pmessage,wea*,weather,sunny" "pmessage shape"
  expect_contains "$(tr '\n' , <"$WORK/sub.out")" "message,news,hello" "message shape"
  # The RESP shapes of UNSUBSCRIBE and of commands refused in subscriber mode.
  # (raw RESP: redis-cli would stay in subscriber mode forever.)
  expect_eq "$(raw 'SUBSCRIBE a b\r\nGET x\r\nPING\r\nUNSUBSCRIBE\r\nPING\r\nQUIT\r\n' | tr '\n' ,)" \
    "*3,\$9,subscribe,\$1,a,:1,*3,\$9,subscribe,\$1,b,:2,-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context,*2,\$4,pong,\$0,,*3,\$11,unsubscribe,\$1,a,:1,*3,\$11,unsubscribe,\$1,b,:0,+PONG,+OK," \
    "subscriber mode"
  expect_contains "$(cli info stats)" "pubsub_channels:1" "INFO pubsub_channels"
  kill "$sub" "$psub"
  wait "$sub" 2>/dev/null || true
  wait "$psub" 2>/dev/null || true
  poll "$WAIT" bash -c "[ \"\$(redis-cli -p $PORT publish news x)\" = 0 ]" || fail "subscriber not removed on disconnect"
}

case_pubsub_overflow() {
  start_server "$WORK/data" --subscriber-queue 8 --write-timeout-ms 1000
  # A subscriber that never reads: its socket buffers fill, then its bounded queue.
  exec 3<>"/dev/tcp/127.0.0.1/$PORT"
  printf 'SUBSCRIBE flood\r\n' >&3
  poll "$WAIT" bash -c "[ \"\$(redis-cli -p $PORT publish flood x)\" = 1 ]" || fail "subscriber never registered"
  head -c 65536 /dev/zero | tr '\0' x >"$WORK/big"
  local i
  for ((i = 0; i < 200; i++)); do printf '*3\r\n$7\r\nPUBLISH\r\n$5\r\nflood\r\n$65536\r\n'; cat "$WORK/big"; printf '\r\n'; done >"$WORK/flood.txt"
  cli --pipe <"$WORK/flood.txt" >/dev/null
  # The server drops it (overflow, or the write deadline) instead of buffering without bound.
  poll "$WAIT" bash -c "[ \"\$(redis-cli -p $PORT publish flood x)\" = 0 ]" || fail "slow subscriber not disconnected"
  local drops
  drops=$(cli info stats | sed -n 's/^pubsub_overflow_disconnects:\([0-9]*\).*/\1/p')
  [ "${drops:-0}" -ge 1 ] || fail "overflow not counted: $drops"
  exec 3<&-
  expect_eq "$(cli ping)" "PONG" "server alive after the flood"
}

case_expiry() {
  start_server "$WORK/data"
  expect_eq "$(cli set short v px 100)" "OK" "SET PX"
  expect_eq "$(cli set long v ex 100)" "OK" "SET EX"
  poll "$WAIT" bash -c "[ -z \"\$(redis-cli -p $PORT get short)\" ]" || fail "key with PX 100 did not expire"
  expect_eq "$(cli get long)" "v" "long TTL key still there"
  # Active expiry: keys nobody touches again still go (DBSIZE counts stored keys).
  local i
  for ((i = 0; i < 50; i++)); do printf 'SET tmp:%d v PX 100\r\n' "$i"; done | cli --pipe >/dev/null
  poll "$WAIT" bash -c "[ \"\$(redis-cli -p $PORT dbsize)\" = 1 ]" || fail "active expiry did not remove keys: $(cli dbsize)"
  local expired
  expired=$(cli info stats | sed -n 's/^expired_keys:\([0-9]*\).*/\1/p')
  [ "${expired:-0}" -ge 1 ] || fail "expired_keys not counted"
}

case_maxclients() {
  start_server "$WORK/data" --maxclients 2
  exec 3<>"/dev/tcp/127.0.0.1/$PORT"
  exec 4<>"/dev/tcp/127.0.0.1/$PORT"
  local r
  printf 'PING\r\n' >&3; read -r -t 10 r <&3; expect_eq "$r" $'+PONG\r' "client 1"
  printf 'PING\r\n' >&4; read -r -t 10 r <&4; expect_eq "$r" $'+PONG\r' "client 2"
  expect_eq "$(cli ping 2>&1)" "ERR max number of clients reached" "third client refused"
  exec 3<&-
  poll "$WAIT" bash -c "[ \"\$(redis-cli -p $PORT ping 2>&1)\" = PONG ]" || fail "slot not released"
  exec 4<&-
  expect_contains "$(cli info stats)" "rejected_connections:1" "rejections counted"
}

case_idle_timeout() {
  start_server "$WORK/data" --timeout 1
  exec 3<>"/dev/tcp/127.0.0.1/$PORT"
  local r
  printf 'PING\r\n' >&3; read -r -t 10 r <&3; expect_eq "$r" $'+PONG\r' "client before idling"
  # An idle client is closed after --timeout seconds: the read sees end of stream.
  local rc=0
  read -r -t "$WAIT" r <&3 || rc=$?
  [ "$rc" -eq 1 ] || fail "idle connection not closed (read status $rc: >128 is a timeout, 0 is data)"
  exec 3<&-
  expect_contains "$(cli info stats)" "idle_disconnects:1" "idle disconnect counted"
}

case_durability() {
  start_server "$WORK/data" --appendfsync always
  local n=$N_SMALL i
  for ((i = 0; i < n; i++)); do printf 'SET dur:%d %d\r\nINCR ctr\r\n' "$i" "$i"; done >"$WORK/cmds.txt"
  # --pipe returns once every reply arrived: with appendfsync always, each one is on disk.
  expect_contains "$(cli --pipe <"$WORK/cmds.txt")" "errors: 0, replies: $((2 * n))" "writes acknowledged"
  expect_eq "$(cli set last yes px 600000)" "OK" "SET with TTL"
  kill9_server
  # A crash can also tear the final record; replay must drop it and keep the rest.
  printf '*3\r\n$3\r\nSET\r\n$4\r\ntorn' >>"$WORK/data/appendonly.aof"
  start_server "$WORK/data" --appendfsync always
  expect_eq "$(cli dbsize)" "$((n + 2))" "every acknowledged key survived kill -9"
  expect_eq "$(cli get ctr)" "$n" "counter survived"
  expect_eq "$(cli get dur:$((n - 1)))" "$((n - 1))" "last key survived"
  local ttl
  ttl=$(cli pttl last)
  [ "$ttl" -gt 0 ] && [ "$ttl" -le 600000 ] || fail "TTL not restored: $ttl"
  expect_contains "$(cat "$WORK"/server.2.log)" "incomplete final record" "torn tail reported"
  expect_eq "$(cli set after torn)" "OK" "writes after a torn tail"
  kill9_server
  start_server "$WORK/data"
  expect_eq "$(cli get after)" "torn" "record appended after the torn tail replays"
}

case_sigterm() {
  start_server "$WORK/data" --appendfsync everysec
  expect_eq "$(cli set before-shutdown 1)" "OK" "SET"
  # Idle clients must not hold the shutdown up.
  exec 3<>"/dev/tcp/127.0.0.1/$PORT"
  redis-cli -p "$PORT" subscribe idle >/dev/null 2>&1 &
  local sub=$!
  PIDS+=("$sub")
  poll "$WAIT" bash -c "[ \"\$(redis-cli -p $PORT publish idle x)\" = 1 ]" || fail "subscriber never registered"
  kill -TERM "$SERVER_PID"
  local rc=0 i
  for ((i = 0; i < WAIT * 20; i++)); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$SERVER_PID" 2>/dev/null && fail "server still running after SIGTERM"
  wait "$SERVER_PID" || rc=$?
  expect_eq "$rc" "0" "exit code after SIGTERM"
  expect_contains "$(cat "$WORK/server.1.log")" "AOF flushed and fsynced" "shutdown report"
  exec 3<&-
  wait "$sub" 2>/dev/null || true
  start_server "$WORK/data"
  expect_eq "$(cli get before-shutdown)" "1" "data after graceful restart"
  # SIGINT works the same way.
  kill -INT "$SERVER_PID"
  rc=0
  wait "$SERVER_PID" || rc=$?
  expect_eq "$rc" "0" "exit code after SIGINT"
}

# A SIGTERM while the append-only log is replayed ends the process cleanly (exit 0) and loses
# nothing: the file is left as it was and the next start replays all of it. The signal may land
# during the replay or just after it (then it is a normal graceful shutdown): both must hold this.
case_sigterm_during_load() {
  mkdir -p "$WORK/data"
  local n=400000
  [ "$SLOW" = 1 ] && n=100000
  python3 - "$WORK/data/appendonly.aof" "$n" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
value = "v" * 32
with open(path, "w", newline="") as f:
    for i in range(n):
        key = "key:%d" % i
        f.write("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value))
PY
  local size
  size=$(stat -c %s "$WORK/data/appendonly.aof")
  local log="$WORK/server.load.log"
  "$BIN" --port 0 --bind 127.0.0.1 --dir "$WORK/data" >"$log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  poll "$WAIT" grep -q "Loading the append only file" "$log" || fail "the server never began loading"
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  expect_eq "$rc" "0" "exit code after SIGTERM during the load"
  expect_eq "$(stat -c %s "$WORK/data/appendonly.aof")" "$size" "the log is unchanged"
  start_server "$WORK/data"
  expect_eq "$(cli dbsize)" "$n" "every record after the restart"
}

case_bad_input() {
  start_server "$WORK/data" --proto-max-bulk-len 1048576
  expect_eq "$(raw '*1\r\n$99999999999\r\n')" "-ERR Protocol error: invalid bulk length" "huge bulk length"
  expect_eq "$(raw '*1\r\n$2000000\r\n')" "-ERR Protocol error: invalid bulk length" "bulk over proto-max-bulk-len"
  expect_eq "$(raw '*abc\r\n')" "-ERR Protocol error: invalid multibulk length" "bad multibulk length"
  expect_eq "$(raw '*1\r\n*1\r\n')" "-ERR Protocol error: expected '\$', got '*'" "nested array"
  expect_eq "$(raw 'PING\r\n*1\r\nx\r\n')" "$(printf '+PONG\n-ERR Protocol error: expected '"'"'$'"'"', got '"'"'x'"'"'')" "reply before the error"
  expect_eq "$(raw 'SET "unbalanced\r\n')" "-ERR Protocol error: unbalanced quotes in request" "inline quotes"
  # Binary keys and values: NUL, CR, LF and high bytes round-trip.
  printf 'bin\0ary\r\nvalue\xff\x00end' >"$WORK/blob"
  printf 'k\0ey\r\n' >"$WORK/key"
  cli -x set binval <"$WORK/blob" >/dev/null
  cli --no-raw get binval >/dev/null
  redis-cli -h 127.0.0.1 -p "$PORT" --raw get binval | head -c "$(stat -c %s "$WORK/blob")" >"$WORK/blob.back"
  cmp "$WORK/blob" "$WORK/blob.back" || fail "binary value changed"
  expect_eq "$(cli strlen binval)" "$(stat -c %s "$WORK/blob")" "binary STRLEN"
  # A flood of garbage and a half request then close: server stays up, memory bounded.
  head -c 200000 /dev/urandom | timeout 10 bash -c "cat >/dev/tcp/127.0.0.1/$PORT" 2>/dev/null || true
  expect_eq "$(cli ping)" "PONG" "alive after garbage"
  expect_contains "$(cli info stats)" "protocol_errors:" "protocol errors counted"
}

case_rewrite() {
  start_server "$WORK/data" --aof-rewrite-min-size 20000 --appendfsync everysec
  # Many overwrites of a small key space: the log grows far past the live data.
  redis-benchmark -h 127.0.0.1 -p "$PORT" -t set,incr -r 50 -n "$N_SMALL" -c 4 -P 8 -q >/dev/null 2>&1
  for ((i = 0; i < 20; i++)); do printf 'SET stable:%d v%d\r\n' "$i" "$i"; done | cli --pipe >/dev/null
  poll "$WAIT" bash -c "redis-cli -p $PORT info persistence | grep -q '^aof_rewrites:[1-9]'" || fail "no rewrite happened: $(cli info persistence)"
  redis-benchmark -h 127.0.0.1 -p "$PORT" -t set -r 50 -n 500 -c 2 -q >/dev/null 2>&1
  poll "$WAIT" bash -c "redis-cli -p $PORT info persistence | grep -q '^aof_rewrite_in_progress:0'" || fail "rewrite stuck"
  local before after
  before=$(for k in $(cli --scan | sort); do printf '%s=%s\n' "$k" "$(cli get "$k")"; done)
  expect_eq "$(cli set final 1)" "OK" "SET"
  sleep 1.5  # everysec: let the fsync tick pass
  kill9_server
  start_server "$WORK/data"
  expect_eq "$(cli get final)" "1" "write after the rewrite"
  cli del final >/dev/null
  after=$(for k in $(cli --scan | sort); do printf '%s=%s\n' "$k" "$(cli get "$k")"; done)
  expect_eq "$after" "$before" "dataset after rewrite + restart"
}

case_metrics() {
  start_server "$WORK/data" --metrics-port 0
  local mport log="$WORK/server.$SERVERS.log"
  mport=$(sed -n 's|.*Serving metrics on http://127\.0\.0\.1:\([0-9]*\)/metrics.*|\1|p' "$log" | head -n1)
  [ -n "$mport" ] || fail "no metrics port in the log: $(cat "$log")"
  expect_eq "$(cli set k v)" "OK" "SET"
  local out
  out=$(timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$mport; printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n' >&3; cat <&3" | tr -d '\r')
  expect_contains "$out" "HTTP/1.1 200 OK" "status"
  expect_contains "$out" "# TYPE tether_tasks_spawned_total counter" "runtime family"
  expect_contains "$out" 'tether_channel_capacity{runtime="tether-kv",channel="aof"} 4096' "AOF channel gauge"
  expect_contains "$out" 'tether_lock_wait_seconds_total{runtime="tether-kv",lock="shard-0"}' "shard lock series"
  echo "$out" | grep -q '^tether_kv_commands_processed_total [1-9]' || fail "commands counter did not move: $out"
  out=$(timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$mport; printf 'GET /nope HTTP/1.1\r\n\r\n' >&3; cat <&3" | tr -d '\r')
  expect_contains "$out" "HTTP/1.1 404" "other paths"
}

"case_$CASE"
echo "PASS ($CASE)"

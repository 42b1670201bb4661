// Append-only file: the record format, a replay reader that survives a torn tail, and the
// compaction writer.
//
// Defines:
//   AofReplayer      feeds AOF bytes (in chunks) into a Keyspace, in Redis's loading mode
//   AofLoadResult    what a replay found: records applied, bytes used, torn-tail bytes, or error
//   load_aof_file()  replays a whole file with blocking reads (for the blocking pool)
//   dump_shard()     compaction: a shard's live state as SET [PXAT] records
//
// Record format: exactly Redis's AOF, a RESP multibulk per write command. Records are produced by
// the command layer itself (ExecContext::aof in keyspace.hpp) with every time made absolute
// (SET ... PXAT <ms>, PEXPIREAT <ms>, DEL for an expiry already in the past), so replaying a log
// later, after a restart, gives the same keys and deadlines. An AOF written by redis-server with
// the same commands also replays.
//
// Torn tail vs corruption: a crash (kill -9, power loss) can leave the last record incomplete.
// A prefix of a valid record never fails to parse, it only "needs more", so an incomplete record
// at the end of the file is dropped and reported (truncated_bytes) -- Redis's aof-load-truncated.
// Anything that does not parse, or a record that fails when executed (unknown command, wrong
// arity), is corruption: replay stops with an error naming the byte offset, and the host must
// refuse to start rather than run with a silently partial dataset.
//
// Example: apps/tether-kv/tests/aof_test.cpp
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "keyspace.hpp"
#include "resp.hpp"

namespace tether::kv {

// Outcome of replaying an AOF.
struct AofLoadResult {
  std::size_t records = 0;            // commands applied
  std::uint64_t valid_bytes = 0;      // length of the well-formed prefix (truncate the file here)
  std::uint64_t truncated_bytes = 0;  // bytes of an incomplete final record that were dropped
  std::string error;                  // empty on success; else what is corrupt and where
  bool interrupted = false;           // stopped early on request; the file was left as it was

  [[nodiscard]] bool ok() const noexcept { return error.empty(); }
};

// tether::kv::AofReplayer
//
// Applies AOF bytes to a keyspace as they are read. Commands run with ExecContext::loading set,
// so nothing expires during replay (as in Redis); expired keys go afterwards, lazily or by active
// expiry.
// Thread safety: thread-compatible; it uses the whole Keyspace, so run it before the keyspace's
//   shards are handed to their owners.
class AofReplayer {
 public:
  // `now` is only used for relative commands found in a foreign AOF (tether-kv writes none).
  AofReplayer(Keyspace& keyspace, Millis now);

  // Applies every complete record in `chunk` (plus what was left over before). Returns false once
  // the log is found corrupt; finish() then says why.
  bool feed(std::string_view chunk);
  // Call at end of file. Anything left is an incomplete final record: dropped and counted.
  [[nodiscard]] AofLoadResult finish();

 private:
  Keyspace& keyspace_;
  Millis now_;
  RequestParser parser_;
  std::vector<std::string_view> args_;
  std::string scratch_;  // replies of replayed commands (checked, then discarded)
  AofLoadResult result_;
};

// Replays the AOF at `path` into `keyspace` with blocking reads. A missing file is an empty log.
// With `truncate_torn_tail`, a dropped incomplete tail is also cut off the file, so that records
// appended later follow the last complete one. `stop_requested`, if given, is asked before each
// 256 KB chunk: when it says yes the replay ends with `interrupted` set and the file untouched.
// Call from the blocking pool.
[[nodiscard]] AofLoadResult load_aof_file(const std::string& path, Keyspace& keyspace, Millis now,
                                          bool truncate_torn_tail = true,
                                          const std::function<bool()>& stop_requested = {});

// Compaction: appends to `out` one `SET key value` record per live key of `shard`, with
// `PXAT <ms>` for keys that have a TTL; keys already expired at `now` are left out. When `out`
// reaches `flush_at` bytes, `flush(out)` is called and must consume (write and clear) it, so a
// large shard is dumped with bounded memory. Returns the number of keys written.
// The shard must not change during the dump (run it on the shard's owner, or on a snapshot).
std::size_t dump_shard(const Shard& shard, Millis now, std::string& out,
                       const std::function<void(std::string&)>& flush = {}, std::size_t flush_at = 1024 * 1024);

}  // namespace tether::kv

// The tether-kv data model and Redis 7 command semantics, independent of any runtime or socket.
//
// Defines:
//   hash_key()      the seeded key hash that picks both a key's shard and its bucket
//   Shard           one independent part of the keyspace: a hash table of string keys with
//                   millisecond expiry, lazy expiry on access, active expiry sampling and a
//                   resize-proof SCAN cursor
//   CommandSpec     a command's canonical name, arity and routing (lookup_command())
//   ExecContext     what a command may observe besides its arguments: the time, replay mode, and
//                   where to write its AOF record
//   Execution       one command split by shard: run() on each shard it names, then finish()
//   Keyspace        N shards plus a synchronous execute() for tests, AOF replay and simple hosts
//
// How a server uses this: parse a request (resp.hpp), build an Execution from it, and run it on
// each shard in shards() wherever that shard lives (a shard actor's task, or inside a
// Mutex<Shard>::with closure), then finish() into the connection's reply buffer. Single-key
// commands touch one shard; MGET/MSET/DEL/EXISTS/UNLINK split their keys by shard; DBSIZE,
// FLUSHDB/FLUSHALL and KEYS visit every shard; SCAN visits one shard per call. Time is passed in,
// never read, so every behaviour here is deterministic under test.
//
// Differences from Redis, on purpose: a multi-key write that spans shards (MSET, DEL) is atomic
// per shard, not across shards; string values are the only type. Everything a client can observe
// from a single connection matches Redis 7.0 byte for byte, including error texts.
//
// Example: apps/tether-kv/tests/keyspace_test.cpp
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tether::kv {

// Unix time in milliseconds.
using Millis = std::int64_t;
inline constexpr Millis kNoExpiry = -1;

// hash_key()
//
// 64-bit hash of a key, seeded once per process from std::random_device so that clients cannot
// precompute colliding keys (hash flooding). Low bits pick a bucket inside a shard, high bits
// pick the shard, so the two choices are independent. Not a cryptographic MAC.
// Thread safety: thread-safe. Allocation: never allocates.
[[nodiscard]] std::uint64_t hash_key(std::string_view key) noexcept;

// Result of one Shard::expire_sample() round.
struct ExpireStats {
  std::size_t sampled = 0;  // keys with a TTL that were looked at
  std::size_t expired = 0;  // of those, how many had expired and were deleted
};

// tether::kv::Shard
//
// One independent part of the keyspace: a chained hash table with a power-of-two bucket array,
// holding binary-safe string keys and values, each with an optional absolute expiry time.
// Keys with a TTL are also kept in a dense index so that active expiry can sample them in O(1).
//
// Expiry follows Redis: a key is expired once now > expire_at (a key is still visible in the
// millisecond it expires). Lookups delete expired keys lazily; expire_sample() deletes them
// actively. Passing kNoExpiryCheck as `now` turns lazy expiry off (AOF replay, like Redis while
// loading).
//
// SCAN: the cursor walks buckets in reverse-binary order (Redis's dictScan idea), so a key that
// is present from the first call to the last is returned at least once even if the table grows
// between calls; keys may be returned more than once.
//
// Thread safety: thread-compatible. One owner at a time (a shard actor, or whoever holds the
//   shard's mutex); distinct shards are fully independent.
// Performance: the table doubles when it holds as many keys as buckets, rehashing at once (the
//   pause is proportional to the shard's size, which is why a server uses many shards).
//   It does not shrink except on clear(). Lookups by string_view never allocate.
class Shard {
 public:
  static constexpr Millis kNoExpiryCheck = std::numeric_limits<Millis>::min();

  // One key. `key` and `hash` must not be modified; change expiry only through the Shard so the
  // TTL index stays right. `value` may be modified in place.
  struct Entry {
    Entry* next = nullptr;   // bucket chain
    std::uint64_t hash = 0;  // hash_key(key), kept to rehash and to compare cheaply
    Millis expire_at = kNoExpiry;
    std::size_t ttl_slot = 0;  // position in ttl_index_ while expire_at != kNoExpiry
    std::string key;
    std::string value;
  };

  Shard() = default;
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;
  Shard(Shard&& other) noexcept;
  Shard& operator=(Shard&& other) noexcept;
  ~Shard();

  // Returns the live entry for `key`, or nullptr; an expired entry is deleted and not returned.
  [[nodiscard]] Entry* find(std::string_view key, std::uint64_t hash, Millis now);
  [[nodiscard]] Entry* find(std::string_view key, Millis now) { return find(key, hash_key(key), now); }
  // Like find() but never deletes: for reads that must not write (KEYS, SCAN).
  [[nodiscard]] const Entry* peek(std::string_view key, std::uint64_t hash, Millis now) const;

  // Returns the live entry for `key`, creating an empty one (no TTL) if there is none.
  // `created` tells which. An expired entry is replaced by a fresh one.
  Entry* upsert(std::string_view key, std::uint64_t hash, Millis now, bool& created);

  // Deletes `key` if present (expired or not). Returns whether it was live.
  bool erase(std::string_view key, std::uint64_t hash, Millis now);
  void erase(Entry* entry);

  void set_expire(Entry* entry, Millis at);
  void clear_expire(Entry* entry);

  // Keys held, including expired ones not yet deleted (what Redis's DBSIZE counts).
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t keys_with_ttl() const noexcept { return ttl_index_.size(); }
  void clear();

  // Active expiry: looks at up to `max` random keys that have a TTL and deletes the expired
  // ones. Redis's adaptive loop (repeat while more than a quarter expired, within a time
  // budget) belongs to the caller: ExpireStats says how the round went.
  ExpireStats expire_sample(Millis now, std::size_t max);

  // Visits every entry of the bucket that `cursor` designates (in any order) and returns the
  // cursor of the next bucket; 0 when the walk is complete. Start with 0. Do not modify the
  // shard from inside `visit`.
  template <class Visit>
  std::uint64_t scan_bucket(std::uint64_t cursor, Visit&& visit) const;

  // Visits every entry (compaction, KEYS). Do not modify the shard from inside `visit`.
  template <class Visit>
  void for_each(Visit&& visit) const;

 private:
  Entry** link_of(std::string_view key, std::uint64_t hash) const noexcept;
  void unlink_and_free(Entry** link);
  void grow();
  void free_all() noexcept;
  static std::uint64_t next_cursor(std::uint64_t cursor, std::uint64_t mask) noexcept;

  std::vector<Entry*> buckets_;  // size is zero or a power of two
  std::size_t size_ = 0;
  std::vector<Entry*> ttl_index_;              // every entry with a TTL, for sampling
  std::uint64_t rng_ = 0x9e3779b97f4a7c15ULL;  // xorshift state for expire_sample
};

// How the server must carry out a command (CommandSpec::route).
enum class Route : std::uint8_t {
  kNoKey,      // answered without the keyspace (PING, ECHO, SELECT)
  kOneKey,     // args[1] is the only key
  kKeys,       // every argument from 1 is a key (DEL, EXISTS, MGET), or every other (MSET)
  kAllShards,  // DBSIZE, FLUSHDB/FLUSHALL, KEYS
  kScan,       // one shard per call, chosen by the cursor
  kServer,     // connection-level command the host implements (QUIT, INFO, pub/sub, ...)
};

// Every command tether-kv knows, keyspace and connection-level alike, so that arity errors and
// unknown-command errors come from one table.
enum class CommandId : std::uint8_t {
  kPing,
  kEcho,
  kSelect,
  kDbsize,
  kFlushdb,
  kFlushall,
  kGet,
  kSet,
  kMget,
  kMset,
  kSetnx,
  kGetset,
  kGetdel,
  kDel,
  kUnlink,
  kExists,
  kIncr,
  kDecr,
  kIncrby,
  kDecrby,
  kAppend,
  kStrlen,
  kExpire,
  kPexpire,
  kExpireat,
  kPexpireat,
  kTtl,
  kPttl,
  kPersist,
  kType,
  kKeys,
  kScan,
  // Connection-level (Route::kServer): the host implements these.
  kQuit,
  kInfo,
  kPublish,
  kSubscribe,
  kUnsubscribe,
  kPsubscribe,
  kPunsubscribe,
  kCommand,
  kClient,
  kConfig,
  kHello,
};

// One row of the command table.
struct CommandSpec {
  std::string_view name;  // canonical lowercase name, as Redis prints it in errors
  CommandId id;
  int arity;  // Redis convention: N means exactly N args, -N at least N
  Route route;
  bool write;  // modifies the keyspace (may produce an AOF record)
};

// Case-insensitive lookup; nullptr for an unknown command.
[[nodiscard]] const CommandSpec* lookup_command(std::string_view name) noexcept;

// tether::kv::ExecContext
//
// What a command may observe besides its arguments. Passed by the host per call.
struct ExecContext {
  Millis now = 0;        // the command's notion of "now" (Redis uses one timestamp per command)
  bool loading = false;  // AOF replay: no lazy expiry, past expiry times are stored, not applied
  // If set, a write that changed the keyspace appends its AOF record(s) here, as RESP
  // multibulk with absolute times (SET ... PXAT, PEXPIREAT), ready to be appended to the log.
  std::string* aof = nullptr;
  // Largest string APPEND may build (Redis's proto-max-bulk-len).
  std::size_t max_string_length = 512u * 1024 * 1024;
};

// tether::kv::Execution
//
// One command, validated and split by shard. Construction looks the command up, checks arity
// and any argument errors that need no data, and computes which shards must run it. Then:
//   kind() == kReplied: the reply (an error, PONG, ...) is ready; call finish().
//   kind() == kServer:  a connection-level command (spec() says which) for the host to handle.
//   kind() == kShards:  call run(i, shard_i, ctx) once for each i in shards(), then finish().
//
// Thread safety: thread-compatible, except that run() for *distinct* shard indices may execute
//   concurrently (each writes only its own result slot). The host must make every run()
//   happen-before finish() (e.g. by awaiting each shard's completion).
// Lifetime: `args` (and the bytes they view) must outlive the Execution.
// Allocation: one small vector per multi-shard command; single-key commands allocate only their
//   reply.
class Execution {
 public:
  enum class Kind : std::uint8_t { kReplied, kServer, kShards };

  Execution(std::span<const std::string_view> args, std::size_t shard_count);
  Execution(const Execution&) = delete;
  Execution& operator=(const Execution&) = delete;

  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  [[nodiscard]] const CommandSpec* spec() const noexcept { return spec_; }
  // Shard indices to run on, each once, in any order.
  [[nodiscard]] std::span<const std::uint32_t> shards() const noexcept;

  void run(std::uint32_t shard_index, Shard& shard, const ExecContext& ctx);
  // Appends the reply to `out`.
  void finish(std::string& out);

 private:
  void reply_error(std::string_view message);
  void run_one(Shard& shard, const ExecContext& ctx);
  void run_multi(std::uint32_t shard_index, Shard& shard, const ExecContext& ctx);
  void run_all(std::uint32_t shard_index, Shard& shard, const ExecContext& ctx);
  void run_scan(Shard& shard, const ExecContext& ctx);

  std::span<const std::string_view> args_;
  const CommandSpec* spec_ = nullptr;
  Kind kind_ = Kind::kReplied;
  std::size_t shard_count_ = 0;
  std::uint32_t single_shard_ = 0;
  std::uint64_t single_hash_ = 0;          // kOneKey: hash_key(args[1])
  std::vector<std::uint32_t> shard_list_;  // multi-shard routes
  std::vector<std::uint32_t> key_shard_;   // kKeys: shard of each key (index = key number)
  std::vector<std::uint64_t> key_hash_;    // kKeys: hash of each key
  std::string reply_;                      // single-shard reply, or the ready reply
  // Per-shard results, indexed by shard index (kKeys counts, DBSIZE, KEYS).
  std::vector<std::int64_t> counts_;
  std::vector<std::vector<std::string>> shard_keys_;  // KEYS / SCAN
  // MGET results by key number; found_ is char, not bool, so slots are distinct objects.
  std::vector<std::string> values_;
  std::vector<char> found_;
  // SCAN
  std::uint64_t scan_cursor_ = 0;
  std::uint64_t scan_next_ = 0;
  std::int64_t scan_count_ = 10;
  std::string_view scan_pattern_;
  bool scan_use_pattern_ = false;
  bool scan_type_mismatch_ = false;  // TYPE other than "string": nothing can match
};

struct KeyspaceOptions {
  // Number of shards. More shards: smaller rehash pauses and more parallelism across shard
  // owners; more work for commands that visit every shard. Must be at least 1.
  std::size_t shards = 16;
};

// tether::kv::Keyspace
//
// All the shards of one database, plus a synchronous execute() that runs a command across them
// on the calling thread: what tests, AOF replay and a single-threaded host use.
// Thread safety: thread-compatible; shard(i) objects may be handed to distinct owners, after
//   which execute() must not be used.
class Keyspace {
 public:
  explicit Keyspace(KeyspaceOptions options = {});

  [[nodiscard]] std::size_t shard_count() const noexcept { return shards_.size(); }
  [[nodiscard]] Shard& shard(std::size_t i) { return shards_[i]; }
  [[nodiscard]] const Shard& shard(std::size_t i) const { return shards_[i]; }
  [[nodiscard]] std::size_t shard_of(std::string_view key) const noexcept;
  [[nodiscard]] std::size_t size() const noexcept;

  // Runs `args` and appends its reply to `out`. Returns the Execution's kind: for kServer
  // nothing was appended and the host must handle the command itself.
  Execution::Kind execute(std::span<const std::string_view> args, const ExecContext& ctx, std::string& out);

 private:
  std::vector<Shard> shards_;
};

// Maps a hash to one of `shard_count` shards using the hash's high bits (the low bits index
// buckets within the shard).
[[nodiscard]] inline std::size_t shard_for_hash(std::uint64_t hash, std::size_t shard_count) noexcept {
  return static_cast<std::size_t>(((hash >> 32) * shard_count) >> 32);
}

// ---- template implementation ----

template <class Visit>
std::uint64_t Shard::scan_bucket(std::uint64_t cursor, Visit&& visit) const {
  if (buckets_.empty()) return 0;
  const std::uint64_t mask = buckets_.size() - 1;
  for (const Entry* e = buckets_[cursor & mask]; e != nullptr; e = e->next) visit(*e);
  return next_cursor(cursor, mask);
}

template <class Visit>
void Shard::for_each(Visit&& visit) const {
  for (const Entry* head : buckets_) {
    for (const Entry* e = head; e != nullptr; e = e->next) visit(*e);
  }
}

}  // namespace tether::kv

// Keyspace, shards and Redis 7 command semantics: see keyspace.hpp.
//
// Reading map:
//   1. hash_key            seeded multiply-mix hash
//   2. Shard               chained hash table, TTL index, reverse-binary scan cursor
//   3. command table       names, arities, routes (lookup_command)
//   4. Execution           construction (routing and data-free validation), run_one (single-key
//                          commands), run_multi (MGET/MSET/DEL/EXISTS), run_all (DBSIZE, FLUSH*,
//                          KEYS), run_scan, finish (merging per-shard results)
//   5. Keyspace            synchronous execute()
// Redis's behaviour that is easy to get wrong is noted where it is implemented: the order in which
// errors are checked is part of the behaviour, since it decides which error a client sees.
#include "keyspace.hpp"

#include <charconv>
#include <climits>
#include <cstring>
#include <initializer_list>
#include <random>
#include <utility>

#include "glob.hpp"
#include "resp.hpp"

namespace tether::kv {

// ---- 1. hash_key ----

namespace {

struct HashSeed {
  std::uint64_t s0, s1, s2;
};

const HashSeed& hash_seed() {
  static const HashSeed seed = [] {
    std::random_device rd;
    auto draw = [&rd] { return (std::uint64_t{rd()} << 32) ^ rd(); };
    // Odd multipliers keep every secret invertible under multiplication.
    return HashSeed{draw() | 1, draw() | 1, draw() | 1};
  }();
  return seed;
}

// 64x64 -> 128-bit multiply, folded: every input bit influences many output bits.
inline std::uint64_t mum(std::uint64_t a, std::uint64_t b) noexcept {
  __extension__ using u128 = unsigned __int128;  // GCC/Clang extension, hence __extension__
  const auto r = static_cast<u128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}

inline std::uint64_t load64(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

std::uint64_t hash_key(std::string_view key) noexcept {
  const HashSeed& k = hash_seed();
  const char* p = key.data();
  std::size_t n = key.size();
  std::uint64_t h = k.s0 ^ (n * 0x9E3779B97F4A7C15ULL);
  while (n >= 16) {
    h = mum(load64(p) ^ k.s1, load64(p + 8) ^ h);
    p += 16;
    n -= 16;
  }
  if (n >= 8) {
    h = mum(load64(p) ^ k.s1, h ^ k.s2);
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    std::uint64_t tail = 0;
    std::memcpy(&tail, p, n);
    h = mum(tail ^ k.s2, h ^ k.s1);
  }
  // Final avalanche (the splitmix64 finaliser) so low bits, which pick buckets, are well mixed.
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDULL;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ULL;
  h ^= h >> 33;
  return h;
}

// ---- 2. Shard ----

Shard::Shard(Shard&& other) noexcept
    : buckets_(std::move(other.buckets_)),
      size_(std::exchange(other.size_, 0)),
      ttl_index_(std::move(other.ttl_index_)),
      rng_(other.rng_) {
  other.buckets_.clear();
  other.ttl_index_.clear();
}

Shard& Shard::operator=(Shard&& other) noexcept {
  if (this != &other) {
    free_all();
    buckets_ = std::move(other.buckets_);
    size_ = std::exchange(other.size_, 0);
    ttl_index_ = std::move(other.ttl_index_);
    rng_ = other.rng_;
    other.buckets_.clear();
    other.ttl_index_.clear();
  }
  return *this;
}

Shard::~Shard() { free_all(); }

void Shard::free_all() noexcept {
  for (Entry* head : buckets_) {
    while (head != nullptr) {
      Entry* next = head->next;
      delete head;
      head = next;
    }
  }
  buckets_.clear();
  ttl_index_.clear();
  size_ = 0;
}

Shard::Entry** Shard::link_of(std::string_view key, std::uint64_t hash) const noexcept {
  if (buckets_.empty()) return nullptr;
  // const_cast: the table is logically this object's; callers of the const overload only read.
  auto** link = const_cast<Entry**>(&buckets_[hash & (buckets_.size() - 1)]);
  while (*link != nullptr && !((*link)->hash == hash && (*link)->key == key)) link = &(*link)->next;
  return link;
}

Shard::Entry* Shard::find(std::string_view key, std::uint64_t hash, Millis now) {
  Entry** link = link_of(key, hash);
  if (link == nullptr || *link == nullptr) return nullptr;
  Entry* e = *link;
  if (e->expire_at != kNoExpiry && now > e->expire_at) {  // lazy expiry
    unlink_and_free(link);
    return nullptr;
  }
  return e;
}

const Shard::Entry* Shard::peek(std::string_view key, std::uint64_t hash, Millis now) const {
  Entry** link = link_of(key, hash);
  if (link == nullptr || *link == nullptr) return nullptr;
  const Entry* e = *link;
  if (e->expire_at != kNoExpiry && now > e->expire_at) return nullptr;
  return e;
}

Shard::Entry* Shard::upsert(std::string_view key, std::uint64_t hash, Millis now, bool& created) {
  Entry** link = link_of(key, hash);
  if (link != nullptr && *link != nullptr) {
    Entry* e = *link;
    if (e->expire_at != kNoExpiry && now > e->expire_at) {
      // Expired: reuse the node as a brand-new key.
      clear_expire(e);
      e->value.clear();
      created = true;
    } else {
      created = false;
    }
    return e;
  }
  if (size_ >= buckets_.size()) {
    grow();
    link = link_of(key, hash);
  }
  auto* e = new Entry;
  e->hash = hash;
  e->key.assign(key);
  *link = e;  // `link` is the chain's terminating null: append
  ++size_;
  created = true;
  return e;
}

bool Shard::erase(std::string_view key, std::uint64_t hash, Millis now) {
  Entry** link = link_of(key, hash);
  if (link == nullptr || *link == nullptr) return false;
  const Entry* e = *link;
  const bool live = !(e->expire_at != kNoExpiry && now > e->expire_at);
  unlink_and_free(link);
  return live;
}

void Shard::erase(Entry* entry) {
  Entry** link = link_of(entry->key, entry->hash);
  if (link != nullptr && *link == entry) unlink_and_free(link);
}

void Shard::unlink_and_free(Entry** link) {
  Entry* e = *link;
  *link = e->next;
  clear_expire(e);
  delete e;
  --size_;
}

void Shard::set_expire(Entry* entry, Millis at) {
  // kNoExpiry (-1) is reserved; -1 as a time is in the past anyway, so -2 means the same.
  if (at == kNoExpiry) at = kNoExpiry - 1;
  if (entry->expire_at == kNoExpiry) {
    entry->ttl_slot = ttl_index_.size();
    ttl_index_.push_back(entry);
  }
  entry->expire_at = at;
}

void Shard::clear_expire(Entry* entry) {
  if (entry->expire_at == kNoExpiry) return;
  // Swap-remove from the dense TTL index.
  Entry* last = ttl_index_.back();
  ttl_index_[entry->ttl_slot] = last;
  last->ttl_slot = entry->ttl_slot;
  ttl_index_.pop_back();
  entry->expire_at = kNoExpiry;
}

void Shard::clear() {
  free_all();
  buckets_.shrink_to_fit();
  ttl_index_.shrink_to_fit();
}

void Shard::grow() {
  const std::size_t new_size = buckets_.empty() ? 8 : buckets_.size() * 2;
  std::vector<Entry*> fresh(new_size, nullptr);
  const std::uint64_t mask = new_size - 1;
  for (Entry* head : buckets_) {
    while (head != nullptr) {
      Entry* next = head->next;
      Entry*& slot = fresh[head->hash & mask];
      head->next = slot;
      slot = head;
      head = next;
    }
  }
  buckets_.swap(fresh);
}

ExpireStats Shard::expire_sample(Millis now, std::size_t max) {
  ExpireStats stats;
  while (stats.sampled < max && !ttl_index_.empty()) {
    // xorshift64: cheap, and good enough to spread samples over the index.
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    Entry* e = ttl_index_[rng_ % ttl_index_.size()];
    ++stats.sampled;
    if (now > e->expire_at) {
      erase(e);
      ++stats.expired;
    }
  }
  return stats;
}

namespace {

std::uint64_t reverse_bits(std::uint64_t v) noexcept {
  v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
  v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
  v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((v & 0x0F0F0F0F0F0F0F0FULL) << 4);
  return __builtin_bswap64(v);
}

}  // namespace

// Increments the cursor's bits that index the table, most significant first (reverse binary).
// Why this survives resizing: with 2^n buckets, bucket b's keys land after growth in buckets
// whose low n bits are b; reverse-binary order visits all of those "children" consecutively
// from the position b occupies, so buckets already visited stay visited at any table size.
std::uint64_t Shard::next_cursor(std::uint64_t cursor, std::uint64_t mask) noexcept {
  cursor |= ~mask;  // set the unused high bits so the increment carries through them
  cursor = reverse_bits(cursor);
  ++cursor;
  return reverse_bits(cursor);
}

// ---- 3. Command table ----

namespace {

constexpr CommandSpec kCommands[] = {
    // Hot commands first: lookup is a linear scan filtered by length.
    {"get", CommandId::kGet, 2, Route::kOneKey, false},
    {"set", CommandId::kSet, -3, Route::kOneKey, true},
    {"incr", CommandId::kIncr, 2, Route::kOneKey, true},
    {"mget", CommandId::kMget, -2, Route::kKeys, false},
    {"mset", CommandId::kMset, -3, Route::kKeys, true},
    {"ping", CommandId::kPing, -1, Route::kNoKey, false},
    {"echo", CommandId::kEcho, 2, Route::kNoKey, false},
    {"select", CommandId::kSelect, 2, Route::kNoKey, false},
    {"dbsize", CommandId::kDbsize, 1, Route::kAllShards, false},
    {"flushdb", CommandId::kFlushdb, -1, Route::kAllShards, true},
    {"flushall", CommandId::kFlushall, -1, Route::kAllShards, true},
    {"setnx", CommandId::kSetnx, 3, Route::kOneKey, true},
    {"getset", CommandId::kGetset, 3, Route::kOneKey, true},
    {"getdel", CommandId::kGetdel, 2, Route::kOneKey, true},
    {"del", CommandId::kDel, -2, Route::kKeys, true},
    {"unlink", CommandId::kUnlink, -2, Route::kKeys, true},
    {"exists", CommandId::kExists, -2, Route::kKeys, false},
    {"decr", CommandId::kDecr, 2, Route::kOneKey, true},
    {"incrby", CommandId::kIncrby, 3, Route::kOneKey, true},
    {"decrby", CommandId::kDecrby, 3, Route::kOneKey, true},
    {"append", CommandId::kAppend, 3, Route::kOneKey, true},
    {"strlen", CommandId::kStrlen, 2, Route::kOneKey, false},
    {"expire", CommandId::kExpire, -3, Route::kOneKey, true},
    {"pexpire", CommandId::kPexpire, -3, Route::kOneKey, true},
    {"expireat", CommandId::kExpireat, -3, Route::kOneKey, true},
    {"pexpireat", CommandId::kPexpireat, -3, Route::kOneKey, true},
    {"ttl", CommandId::kTtl, 2, Route::kOneKey, false},
    {"pttl", CommandId::kPttl, 2, Route::kOneKey, false},
    {"persist", CommandId::kPersist, 2, Route::kOneKey, true},
    {"type", CommandId::kType, 2, Route::kOneKey, false},
    {"keys", CommandId::kKeys, 2, Route::kAllShards, false},
    {"scan", CommandId::kScan, -2, Route::kScan, false},
    {"quit", CommandId::kQuit, -1, Route::kServer, false},
    {"info", CommandId::kInfo, -1, Route::kServer, false},
    {"publish", CommandId::kPublish, 3, Route::kServer, false},
    {"subscribe", CommandId::kSubscribe, -2, Route::kServer, false},
    {"unsubscribe", CommandId::kUnsubscribe, -1, Route::kServer, false},
    {"psubscribe", CommandId::kPsubscribe, -2, Route::kServer, false},
    {"punsubscribe", CommandId::kPunsubscribe, -1, Route::kServer, false},
    {"command", CommandId::kCommand, -1, Route::kServer, false},
    {"client", CommandId::kClient, -2, Route::kServer, false},
    {"config", CommandId::kConfig, -2, Route::kServer, false},
    {"hello", CommandId::kHello, -1, Route::kServer, false},
};

constexpr std::size_t kMaxCommandName = 16;

char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// Case-insensitive equality with a lowercase literal.
bool ieq(std::string_view s, std::string_view lower) noexcept {
  if (s.size() != lower.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (ascii_lower(s[i]) != lower[i]) return false;
  }
  return true;
}

// Redis formats client data into error messages with %s, which stops at a NUL byte.
std::string_view c_prefix(std::string_view s) noexcept {
  const auto nul = s.find('\0');
  return nul == std::string_view::npos ? s : s.substr(0, nul);
}

std::string_view format_int(char (&buf)[24], std::int64_t v) noexcept {
  const auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return {buf, static_cast<std::size_t>(res.ptr - buf)};
}

std::string_view format_uint(char (&buf)[24], std::uint64_t v) noexcept {
  const auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return {buf, static_cast<std::size_t>(res.ptr - buf)};
}

void aof_record(const ExecContext& ctx, std::initializer_list<std::string_view> args) {
  if (ctx.aof != nullptr) append_command(*ctx.aof, {args.begin(), args.size()});
}

constexpr std::string_view kNotInteger = "ERR value is not an integer or out of range";
constexpr std::string_view kSyntaxError = "ERR syntax error";

// SCAN's cursor syntax in Redis 7.0 is strtoul's, not string2ll's: "" and "+5" are accepted,
// "-1" wraps to 2^64-1, a leading space or trailing garbage is refused.
bool parse_scan_cursor(std::string_view s, std::uint64_t& out) noexcept {
  s = c_prefix(s);
  if (s.empty()) {
    out = 0;
    return true;
  }
  const char c0 = s[0];
  if (c0 == ' ' || c0 == '\t' || c0 == '\n' || c0 == '\v' || c0 == '\f' || c0 == '\r') return false;
  std::size_t i = 0;
  bool negative = false;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    i = 1;
  }
  if (i == s.size() || s[i] < '0' || s[i] > '9') return false;  // no digits: end pointer = start
  std::uint64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    const auto d = static_cast<std::uint64_t>(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return false;  // ERANGE
    v = v * 10 + d;
  }
  out = negative ? (~v + 1) : v;
  return true;
}

}  // namespace

const CommandSpec* lookup_command(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxCommandName) return nullptr;
  char lower[kMaxCommandName];
  for (std::size_t i = 0; i < name.size(); ++i) lower[i] = ascii_lower(name[i]);
  const std::string_view key(lower, name.size());
  for (const CommandSpec& spec : kCommands) {
    if (spec.name.size() == key.size() && spec.name == key) return &spec;
  }
  return nullptr;
}

// ---- 4. Execution ----

Execution::Execution(std::span<const std::string_view> args, std::size_t shard_count)
    : args_(args), shard_count_(shard_count) {
  if (args.empty()) {
    reply_error("ERR unknown command '', with args beginning with: ");
    return;
  }
  spec_ = lookup_command(args[0]);
  if (spec_ == nullptr) {
    // Redis 7: "unknown command '<name>', with args beginning with: '<a>' '<b>' " -- the name
    // cut at 128 bytes, then arguments while their rendering is shorter than 128 bytes, the
    // last one cut so the rendering stops near 128.
    std::string msg = "ERR unknown command '";
    msg += c_prefix(args[0]).substr(0, 128);
    msg += "', with args beginning with: ";
    std::size_t rendered = 0;
    for (std::size_t i = 1; i < args.size() && rendered < 128; ++i) {
      const std::string_view a = c_prefix(args[i]).substr(0, 128 - rendered);
      msg += '\'';
      msg += a;
      msg += "' ";
      rendered += a.size() + 3;
    }
    reply_error(msg);
    return;
  }
  const auto argc = static_cast<int>(args.size());
  if ((spec_->arity > 0 && argc != spec_->arity) || (spec_->arity < 0 && argc < -spec_->arity) ||
      (spec_->id == CommandId::kMset && argc % 2 == 0)) {
    std::string msg = "ERR wrong number of arguments for '";
    msg += spec_->name;
    msg += "' command";
    reply_error(msg);
    return;
  }

  switch (spec_->route) {
    case Route::kServer:
      kind_ = Kind::kServer;
      return;

    case Route::kNoKey: {
      kind_ = Kind::kReplied;
      if (spec_->id == CommandId::kPing) {
        if (argc > 2) {
          reply_error("ERR wrong number of arguments for 'ping' command");
        } else if (argc == 2) {
          append_bulk(reply_, args[1]);
        } else {
          append_simple_string(reply_, "PONG");
        }
      } else if (spec_->id == CommandId::kEcho) {
        append_bulk(reply_, args[1]);
      } else {  // SELECT: only database 0 exists
        std::int64_t db = 0;
        if (!parse_int64(args[1], db)) {
          reply_error(kNotInteger);
        } else if (db < INT_MIN || db > INT_MAX) {
          reply_error("ERR value is out of range, value must between -2147483648 and 2147483647");
        } else if (db != 0) {
          reply_error("ERR DB index is out of range");
        } else {
          append_simple_string(reply_, "OK");
        }
      }
      return;
    }

    case Route::kOneKey:
      single_hash_ = hash_key(args[1]);
      single_shard_ = static_cast<std::uint32_t>(shard_for_hash(single_hash_, shard_count_));
      kind_ = Kind::kShards;
      return;

    case Route::kKeys: {
      const std::size_t step = spec_->id == CommandId::kMset ? 2 : 1;
      const std::size_t nkeys = (args.size() - 1) / step;
      key_shard_.resize(nkeys);
      key_hash_.resize(nkeys);
      counts_.assign(shard_count_, 0);
      std::vector<char> seen(shard_count_, 0);
      for (std::size_t i = 0; i < nkeys; ++i) {
        key_hash_[i] = hash_key(args[1 + i * step]);
        const auto s = static_cast<std::uint32_t>(shard_for_hash(key_hash_[i], shard_count_));
        key_shard_[i] = s;
        if (seen[s] == 0) {
          seen[s] = 1;
          shard_list_.push_back(s);
        }
      }
      if (spec_->id == CommandId::kMget) {
        values_.resize(nkeys);
        found_.assign(nkeys, 0);
      }
      kind_ = Kind::kShards;
      return;
    }

    case Route::kAllShards: {
      if (spec_->id == CommandId::kFlushdb || spec_->id == CommandId::kFlushall) {
        // Optional SYNC or ASYNC; both mean "now" here (a shard's clear is its own business).
        if (argc > 2 || (argc == 2 && !ieq(args[1], "sync") && !ieq(args[1], "async"))) {
          kind_ = Kind::kReplied;
          reply_error(kSyntaxError);
          return;
        }
      }
      shard_list_.resize(shard_count_);
      for (std::size_t i = 0; i < shard_count_; ++i) shard_list_[i] = static_cast<std::uint32_t>(i);
      counts_.assign(shard_count_, 0);
      if (spec_->id == CommandId::kKeys) shard_keys_.resize(shard_count_);
      kind_ = Kind::kShards;
      return;
    }

    case Route::kScan: {
      kind_ = Kind::kReplied;
      std::uint64_t cursor = 0;
      if (!parse_scan_cursor(args[1], cursor)) {
        reply_error("ERR invalid cursor");
        return;
      }
      for (std::size_t i = 2; i < args.size();) {
        const std::size_t left = args.size() - i;
        if (ieq(args[i], "count") && left >= 2) {
          if (!parse_int64(args[i + 1], scan_count_)) {
            reply_error(kNotInteger);
            return;
          }
          if (scan_count_ < 1) {
            reply_error(kSyntaxError);
            return;
          }
          i += 2;
        } else if (ieq(args[i], "match") && left >= 2) {
          scan_pattern_ = args[i + 1];
          scan_use_pattern_ = scan_pattern_ != "*";
          i += 2;
        } else if (ieq(args[i], "type") && left >= 2) {
          scan_type_mismatch_ = !ieq(c_prefix(args[i + 1]), "string");
          i += 2;
        } else {
          reply_error(kSyntaxError);
          return;
        }
      }
      // The cursor packs (shard cursor, shard index): cursor = shard_cursor * shards + index.
      single_shard_ = static_cast<std::uint32_t>(cursor % shard_count_);
      scan_cursor_ = cursor / shard_count_;
      shard_keys_.resize(1);
      kind_ = Kind::kShards;
      return;
    }
  }
}

std::span<const std::uint32_t> Execution::shards() const noexcept {
  if (kind_ != Kind::kShards) return {};
  if (spec_->route == Route::kOneKey || spec_->route == Route::kScan) return {&single_shard_, 1};
  return shard_list_;
}

void Execution::reply_error(std::string_view message) {
  kind_ = Kind::kReplied;
  append_error(reply_, message);
}

void Execution::run(std::uint32_t shard_index, Shard& shard, const ExecContext& ctx) {
  switch (spec_->route) {
    case Route::kOneKey:
      run_one(shard, ctx);
      break;
    case Route::kKeys:
      run_multi(shard_index, shard, ctx);
      break;
    case Route::kAllShards:
      run_all(shard_index, shard, ctx);
      break;
    case Route::kScan:
      run_scan(shard, ctx);
      break;
    case Route::kNoKey:
    case Route::kServer:
      break;
  }
}

void Execution::run_one(Shard& shard, const ExecContext& ctx) {
  const std::string_view key = args_[1];
  const std::uint64_t hash = single_hash_;
  // While loading the AOF nothing expires (Redis does the same): replay must rebuild the state
  // the log describes, and expired keys are removed afterwards.
  const Millis now = ctx.loading ? Shard::kNoExpiryCheck : ctx.now;
  std::string& r = reply_;
  char num[24];

  switch (spec_->id) {
    case CommandId::kGet: {
      const Shard::Entry* e = shard.find(key, hash, now);
      if (e != nullptr) {
        append_bulk(r, e->value);
      } else {
        append_null_bulk(r);
      }
      return;
    }

    case CommandId::kSet: {
      bool nx = false, xx = false, get = false, keepttl = false;
      enum { kNone, kEx, kPx, kExat, kPxat } unit = kNone;
      std::string_view expire_arg;
      // Redis's rules: NX/XX exclude each other; KEEPTTL excludes any expiry; one expiry kind
      // only, though the same one may repeat (last wins); an expiry needs a following argument.
      for (std::size_t j = 3; j < args_.size(); ++j) {
        const std::string_view opt = args_[j];
        const bool has_next = j + 1 < args_.size();
        auto expiry = [&](decltype(unit) kind) {
          if (keepttl || (unit != kNone && unit != kind) || !has_next) return false;
          unit = kind;
          expire_arg = args_[++j];
          return true;
        };
        if (ieq(opt, "nx") && !xx) {
          nx = true;
        } else if (ieq(opt, "xx") && !nx) {
          xx = true;
        } else if (ieq(opt, "get")) {
          get = true;
        } else if (ieq(opt, "keepttl") && unit == kNone) {
          keepttl = true;
        } else if (ieq(opt, "ex") && expiry(kEx)) {
        } else if (ieq(opt, "px") && expiry(kPx)) {
        } else if (ieq(opt, "exat") && expiry(kExat)) {
        } else if (ieq(opt, "pxat") && expiry(kPxat)) {
        } else {
          reply_error(kSyntaxError);
          return;
        }
      }
      Millis when = kNoExpiry;
      if (unit != kNone) {
        constexpr std::string_view kBadExpire = "ERR invalid expire time in 'set' command";
        std::int64_t v = 0;
        if (!parse_int64(expire_arg, v)) {
          reply_error(kNotInteger);
          return;
        }
        const bool seconds = unit == kEx || unit == kExat;
        if (v <= 0 || (seconds && v > INT64_MAX / 1000)) {
          reply_error(kBadExpire);
          return;
        }
        if (seconds) v *= 1000;
        if (unit == kEx || unit == kPx) {
          if (v > INT64_MAX - ctx.now) {  // Redis overflows into a negative time and refuses it
            reply_error(kBadExpire);
            return;
          }
          v += ctx.now;
        }
        if (v <= 0) {
          reply_error(kBadExpire);
          return;
        }
        when = v;
      }
      Shard::Entry* e = shard.find(key, hash, now);
      if (get) {
        if (e != nullptr) {
          append_bulk(r, e->value);
        } else {
          append_null_bulk(r);
        }
      }
      if ((nx && e != nullptr) || (xx && e == nullptr)) {
        if (!get) append_null_bulk(r);
        return;
      }
      bool created = false;
      if (e == nullptr) e = shard.upsert(key, hash, now, created);
      e->value.assign(args_[2]);
      if (when != kNoExpiry) {
        shard.set_expire(e, when);
        aof_record(ctx, {"SET", key, args_[2], "PXAT", format_int(num, when)});
      } else if (keepttl) {
        aof_record(ctx, {"SET", key, args_[2], "KEEPTTL"});
      } else {
        shard.clear_expire(e);
        aof_record(ctx, {"SET", key, args_[2]});
      }
      if (!get) append_simple_string(r, "OK");
      return;
    }

    case CommandId::kSetnx: {
      bool created = false;
      Shard::Entry* e = shard.upsert(key, hash, now, created);
      if (!created) {
        append_integer(r, 0);
        return;
      }
      e->value.assign(args_[2]);
      aof_record(ctx, {"SET", key, args_[2]});
      append_integer(r, 1);
      return;
    }

    case CommandId::kGetset: {
      bool created = false;
      Shard::Entry* e = shard.upsert(key, hash, now, created);
      if (created) {
        append_null_bulk(r);
      } else {
        append_bulk(r, e->value);
      }
      e->value.assign(args_[2]);
      shard.clear_expire(e);
      aof_record(ctx, {"SET", key, args_[2]});
      return;
    }

    case CommandId::kGetdel: {
      Shard::Entry* e = shard.find(key, hash, now);
      if (e == nullptr) {
        append_null_bulk(r);
        return;
      }
      append_bulk(r, e->value);
      shard.erase(e);
      aof_record(ctx, {"DEL", key});
      return;
    }

    case CommandId::kIncr:
    case CommandId::kDecr:
    case CommandId::kIncrby:
    case CommandId::kDecrby: {
      std::int64_t incr = 1;
      if (spec_->id == CommandId::kDecr) incr = -1;
      if (spec_->id == CommandId::kIncrby || spec_->id == CommandId::kDecrby) {
        if (!parse_int64(args_[2], incr)) {
          reply_error(kNotInteger);
          return;
        }
        if (spec_->id == CommandId::kDecrby) {
          if (incr == INT64_MIN) {  // cannot be negated
            reply_error("ERR decrement would overflow");
            return;
          }
          incr = -incr;
        }
      }
      Shard::Entry* e = shard.find(key, hash, now);
      std::int64_t value = 0;
      if (e != nullptr && !parse_int64(e->value, value)) {
        reply_error(kNotInteger);
        return;
      }
      if ((incr < 0 && value < 0 && incr < INT64_MIN - value) || (incr > 0 && value > 0 && incr > INT64_MAX - value)) {
        reply_error("ERR increment or decrement would overflow");
        return;
      }
      value += incr;
      bool created = false;
      if (e == nullptr) e = shard.upsert(key, hash, now, created);
      const std::string_view text = format_int(num, value);
      e->value.assign(text);  // the TTL, if any, is kept, as in Redis
      aof_record(ctx, {"SET", key, text, "KEEPTTL"});
      append_integer(r, value);
      return;
    }

    case CommandId::kAppend: {
      Shard::Entry* e = shard.find(key, hash, now);
      if (e != nullptr) {
        if (e->value.size() + args_[2].size() > ctx.max_string_length) {
          reply_error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
          return;
        }
        e->value.append(args_[2]);
      } else {
        bool created = false;
        e = shard.upsert(key, hash, now, created);
        e->value.assign(args_[2]);
      }
      aof_record(ctx, {"APPEND", key, args_[2]});
      append_integer(r, static_cast<std::int64_t>(e->value.size()));
      return;
    }

    case CommandId::kStrlen: {
      const Shard::Entry* e = shard.find(key, hash, now);
      append_integer(r, e != nullptr ? static_cast<std::int64_t>(e->value.size()) : 0);
      return;
    }

    case CommandId::kExpire:
    case CommandId::kPexpire:
    case CommandId::kExpireat:
    case CommandId::kPexpireat: {
      const bool seconds = spec_->id == CommandId::kExpire || spec_->id == CommandId::kExpireat;
      const bool relative = spec_->id == CommandId::kExpire || spec_->id == CommandId::kPexpire;
      // Redis checks the options before the time argument.
      bool nx = false, xx = false, gt = false, lt = false;
      for (std::size_t j = 3; j < args_.size(); ++j) {
        const std::string_view opt = args_[j];
        if (ieq(opt, "nx")) {
          nx = true;
        } else if (ieq(opt, "xx")) {
          xx = true;
        } else if (ieq(opt, "gt")) {
          gt = true;
        } else if (ieq(opt, "lt")) {
          lt = true;
        } else {
          std::string msg = "ERR Unsupported option ";
          msg += c_prefix(opt);
          reply_error(msg);
          return;
        }
      }
      if (nx && (xx || gt || lt)) {
        reply_error("ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
      }
      if (gt && lt) {
        reply_error("ERR GT and LT options at the same time are not compatible");
        return;
      }
      std::int64_t when = 0;
      if (!parse_int64(args_[2], when)) {
        reply_error(kNotInteger);
        return;
      }
      std::string bad_expire = "ERR invalid expire time in '";
      bad_expire += spec_->name;
      bad_expire += "' command";
      if (seconds) {
        if (when > INT64_MAX / 1000 || when < INT64_MIN / 1000) {
          reply_error(bad_expire);
          return;
        }
        when *= 1000;
      }
      const Millis base = relative ? ctx.now : 0;
      if (when > INT64_MAX - base) {
        reply_error(bad_expire);
        return;
      }
      when += base;
      Shard::Entry* e = shard.find(key, hash, now);
      if (e == nullptr) {
        append_integer(r, 0);
        return;
      }
      const Millis current = e->expire_at;
      // No TTL counts as an infinite one: GT never beats it, LT always does.
      if ((nx && current != kNoExpiry) || (xx && current == kNoExpiry) ||
          (gt && (current == kNoExpiry || when <= current)) || (lt && current != kNoExpiry && when >= current)) {
        append_integer(r, 0);
        return;
      }
      if (!ctx.loading && when <= ctx.now) {
        shard.erase(e);
        aof_record(ctx, {"DEL", key});
      } else {
        shard.set_expire(e, when);
        aof_record(ctx, {"PEXPIREAT", key, format_int(num, when)});
      }
      append_integer(r, 1);
      return;
    }

    case CommandId::kTtl:
    case CommandId::kPttl: {
      const Shard::Entry* e = shard.find(key, hash, now);
      if (e == nullptr) {
        append_integer(r, -2);
      } else if (e->expire_at == kNoExpiry) {
        append_integer(r, -1);
      } else {
        Millis left = e->expire_at - ctx.now;
        if (left < 0) left = 0;
        append_integer(r, spec_->id == CommandId::kTtl ? (left + 500) / 1000 : left);
      }
      return;
    }

    case CommandId::kPersist: {
      Shard::Entry* e = shard.find(key, hash, now);
      if (e == nullptr || e->expire_at == kNoExpiry) {
        append_integer(r, 0);
        return;
      }
      shard.clear_expire(e);
      aof_record(ctx, {"PERSIST", key});
      append_integer(r, 1);
      return;
    }

    case CommandId::kType: {
      append_simple_string(r, shard.find(key, hash, now) != nullptr ? "string" : "none");
      return;
    }

    default:
      return;
  }
}

void Execution::run_multi(std::uint32_t shard_index, Shard& shard, const ExecContext& ctx) {
  const Millis now = ctx.loading ? Shard::kNoExpiryCheck : ctx.now;
  const std::size_t nkeys = key_shard_.size();
  std::vector<std::string_view> record;  // this shard's part of the AOF record
  std::int64_t count = 0;

  switch (spec_->id) {
    case CommandId::kMget:
      for (std::size_t i = 0; i < nkeys; ++i) {
        if (key_shard_[i] != shard_index) continue;
        if (const Shard::Entry* e = shard.find(args_[1 + i], key_hash_[i], now)) {
          values_[i] = e->value;
          found_[i] = 1;
        }
      }
      break;

    case CommandId::kMset:
      if (ctx.aof != nullptr) record.emplace_back("MSET");
      for (std::size_t i = 0; i < nkeys; ++i) {
        if (key_shard_[i] != shard_index) continue;
        const std::string_view key = args_[1 + 2 * i];
        const std::string_view value = args_[2 + 2 * i];
        bool created = false;
        Shard::Entry* e = shard.upsert(key, key_hash_[i], now, created);
        e->value.assign(value);
        shard.clear_expire(e);
        if (ctx.aof != nullptr) {
          record.push_back(key);
          record.push_back(value);
        }
      }
      break;

    case CommandId::kDel:
    case CommandId::kUnlink:
      if (ctx.aof != nullptr) record.emplace_back("DEL");
      for (std::size_t i = 0; i < nkeys; ++i) {
        if (key_shard_[i] != shard_index) continue;
        if (shard.erase(args_[1 + i], key_hash_[i], now)) {
          ++count;
          if (ctx.aof != nullptr) record.push_back(args_[1 + i]);
        }
      }
      break;

    case CommandId::kExists:
      for (std::size_t i = 0; i < nkeys; ++i) {
        if (key_shard_[i] == shard_index && shard.find(args_[1 + i], key_hash_[i], now) != nullptr) {
          ++count;
        }
      }
      break;

    default:
      break;
  }
  counts_[shard_index] = count;
  if (ctx.aof != nullptr && record.size() > 1) append_command(*ctx.aof, record);
}

void Execution::run_all(std::uint32_t shard_index, Shard& shard, const ExecContext& ctx) {
  switch (spec_->id) {
    case CommandId::kDbsize:
      counts_[shard_index] = static_cast<std::int64_t>(shard.size());
      break;
    case CommandId::kFlushdb:
    case CommandId::kFlushall:
      shard.clear();
      // One record for the whole command, written by the first shard of the list. A host that
      // runs shards concurrently must order it against other shards' writes itself.
      if (shard_index == shard_list_.front()) aof_record(ctx, {"FLUSHALL"});
      break;
    case CommandId::kKeys: {
      const std::string_view pattern = args_[1];
      const bool all = pattern == "*";
      const Millis now = ctx.loading ? Shard::kNoExpiryCheck : ctx.now;
      auto& out = shard_keys_[shard_index];
      shard.for_each([&](const Shard::Entry& e) {
        if (e.expire_at != kNoExpiry && now > e.expire_at) return;  // expired: not listed
        if (all || glob_match(pattern, e.key)) out.push_back(e.key);
      });
      break;
    }
    default:
      break;
  }
}

void Execution::run_scan(Shard& shard, const ExecContext& ctx) {
  const Millis now = ctx.loading ? Shard::kNoExpiryCheck : ctx.now;
  auto& out = shard_keys_[0];
  std::uint64_t cursor = scan_cursor_;
  // Like Redis: visit buckets until COUNT keys were seen, the walk ends, or 10*COUNT buckets
  // were visited (bounding the work on a sparse table).
  const auto count = static_cast<std::uint64_t>(scan_count_);
  std::uint64_t budget = count > UINT64_MAX / 10 ? UINT64_MAX : count * 10;
  std::size_t seen = 0;
  do {
    cursor = shard.scan_bucket(cursor, [&](const Shard::Entry& e) {
      ++seen;
      if (scan_type_mismatch_) return;
      if (e.expire_at != kNoExpiry && now > e.expire_at) return;
      if (scan_use_pattern_ && !glob_match(scan_pattern_, e.key)) return;
      out.push_back(e.key);
    });
  } while (cursor != 0 && --budget > 0 && seen < count);

  if (cursor != 0) {
    scan_next_ = cursor * shard_count_ + single_shard_;
  } else if (single_shard_ + 1 < shard_count_) {
    scan_next_ = single_shard_ + 1;  // next shard, from its start
  } else {
    scan_next_ = 0;  // every shard walked
  }
}

void Execution::finish(std::string& out) {
  if (kind_ != Kind::kShards || spec_->route == Route::kOneKey) {
    if (out.empty()) {
      out.swap(reply_);
    } else {
      out += reply_;
    }
    reply_.clear();
    return;
  }
  std::int64_t total = 0;
  for (const std::int64_t c : counts_) total += c;
  switch (spec_->id) {
    case CommandId::kMget:
      append_array_header(out, values_.size());
      for (std::size_t i = 0; i < values_.size(); ++i) {
        if (found_[i] != 0) {
          append_bulk(out, values_[i]);
        } else {
          append_null_bulk(out);
        }
      }
      break;
    case CommandId::kMset:
    case CommandId::kFlushdb:
    case CommandId::kFlushall:
      append_simple_string(out, "OK");
      break;
    case CommandId::kDel:
    case CommandId::kUnlink:
    case CommandId::kExists:
    case CommandId::kDbsize:
      append_integer(out, total);
      break;
    case CommandId::kKeys: {
      std::size_t n = 0;
      for (const auto& keys : shard_keys_) n += keys.size();
      append_array_header(out, n);
      for (const auto& keys : shard_keys_) {
        for (const auto& k : keys) append_bulk(out, k);
      }
      break;
    }
    case CommandId::kScan: {
      char num[24];
      append_array_header(out, 2);
      append_bulk(out, format_uint(num, scan_next_));
      append_array_header(out, shard_keys_[0].size());
      for (const auto& k : shard_keys_[0]) append_bulk(out, k);
      break;
    }
    default:
      break;
  }
}

// ---- 5. Keyspace ----

Keyspace::Keyspace(KeyspaceOptions options) : shards_(options.shards == 0 ? 1 : options.shards) {}

std::size_t Keyspace::shard_of(std::string_view key) const noexcept {
  return shard_for_hash(hash_key(key), shards_.size());
}

std::size_t Keyspace::size() const noexcept {
  std::size_t n = 0;
  for (const Shard& s : shards_) n += s.size();
  return n;
}

Execution::Kind Keyspace::execute(std::span<const std::string_view> args, const ExecContext& ctx, std::string& out) {
  Execution ex(args, shards_.size());
  if (ex.kind() == Execution::Kind::kServer) return ex.kind();
  for (const std::uint32_t s : ex.shards()) ex.run(s, shards_[s], ctx);
  ex.finish(out);
  return ex.kind();
}

}  // namespace tether::kv

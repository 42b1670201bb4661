// Internal to src/core: the runtime's counters, sharded by thread so that counting on the hot path
// never bounces a cache line between workers. Reads add the shards up (racy by design: a snapshot).
#pragma once

#include <atomic>
#include <cstdint>

namespace tether::detail {

class ShardedCounter {
 public:
  static constexpr unsigned kShards = 16;
  void add(std::uint64_t n = 1) noexcept {
    // relaxed: a statistic; no other memory depends on it.
    shards_[shard_index()].v.fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t read() const noexcept {
    std::uint64_t sum = 0;
    for (const auto& s : shards_) sum += s.v.load(std::memory_order_relaxed);  // relaxed: snapshot
    return sum;
  }
  static unsigned shard_index() noexcept;

 private:
  struct alignas(64) Shard {
    std::atomic<std::uint64_t> v{0};
  };
  Shard shards_[kShards];
};

struct RuntimeCounters {
  ShardedCounter spawned;
  ShardedCounter completed;
  ShardedCounter failed;
  ShardedCounter cancelled;
  ShardedCounter polls;
  ShardedCounter steals;
  ShardedCounter parks;
};

}  // namespace tether::detail

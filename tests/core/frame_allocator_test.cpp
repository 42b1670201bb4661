// frame_alloc / frame_free (internal): blocks keep their contents and alignment for every size, may be
// freed on any thread (also after the allocating thread exited, and during a thread's exit), and
// cross-thread frees return blocks to their heap, so memory stays bounded however many blocks pass.
#include "tether/core/detail/frame_allocator.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace {

using tether::detail::frame_alloc;
using tether::detail::frame_allocator_reserved_bytes;
using tether::detail::frame_free;
using tether::detail::kFrameMaxSmall;
using tether::test::scaled;

constexpr std::size_t kMiB = std::size_t{1} << 20;

// Sizes that cover every 16-byte class, the class boundaries, 0, and sizes past the slabs.
std::size_t size_for(std::uint64_t i) {
  constexpr std::size_t kSpan = kFrameMaxSmall + 700;
  return static_cast<std::size_t>((i * 37) % kSpan);
}

std::uint8_t pattern_byte(std::uint64_t seed, std::size_t i) {
  return static_cast<std::uint8_t>((seed * 0x9E3779B97F4A7C15ull + i * 131) >> 24);
}

void fill(void* p, std::size_t size, std::uint64_t seed) {
  auto* b = static_cast<std::uint8_t*>(p);
  for (std::size_t i = 0; i < size; ++i) b[i] = pattern_byte(seed, i);
}

// Returns true if the block still holds fill(p, size, seed).
bool intact(const void* p, std::size_t size, std::uint64_t seed) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  for (std::size_t i = 0; i < size; ++i) {
    if (b[i] != pattern_byte(seed, i)) return false;
  }
  return true;
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// Property: every size from 0 to past the largest class yields distinct, 16-aligned blocks that keep
// what was written to them while other blocks are written and freed around them.
TEST(FrameAllocatorTest, EverySizeKeepsContentsAndAlignment) {
  struct Live {
    void* p;
    std::size_t size;
    std::uint64_t seed;
  };
  std::vector<Live> live;
  auto add = [&](std::size_t size) {
    void* p = frame_alloc(size);
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(aligned16(p)) << size;
    std::uint64_t seed = live.size();
    fill(p, size, seed);
    live.push_back({p, size, seed});
  };
  for (std::size_t size = 0; size <= kFrameMaxSmall + 80; ++size) {
    for (int k = 0; k < 3; ++k) add(size);
  }
  add(4096);
  add(100'000);
  // Free every other block and allocate it again (reusing freed blocks), then check and free all.
  for (std::size_t i = 0; i < live.size(); i += 2) {
    ASSERT_TRUE(intact(live[i].p, live[i].size, live[i].seed)) << live[i].size;
    frame_free(live[i].p, live[i].size);
    live[i].p = frame_alloc(live[i].size);
    ASSERT_TRUE(aligned16(live[i].p));
    fill(live[i].p, live[i].size, live[i].seed);
  }
  for (const Live& l : live) {
    ASSERT_TRUE(intact(l.p, l.size, l.seed)) << l.size;
    frame_free(l.p, l.size);
  }
}

// Property: blocks freed on the allocating thread are reused: allocating the same set again takes no
// new memory.
TEST(FrameAllocatorTest, SameThreadFreesAreReused) {
  std::vector<void*> blocks;
  auto round = [&] {
    for (std::uint64_t i = 0; i < 5000; ++i) blocks.push_back(frame_alloc(16 + (i % 64) * 16));
    for (std::uint64_t i = 0; i < blocks.size(); ++i) frame_free(blocks[i], 16 + (i % 64) * 16);
    blocks.clear();
  };
  round();
  const std::size_t reserved = frame_allocator_reserved_bytes();
  for (int r = 0; r < 10; ++r) round();
  EXPECT_EQ(frame_allocator_reserved_bytes(), reserved);
}

// A one-way handoff: slot i is filled by producer i % P and emptied by consumer i % C. Consumers never
// publish anything the producers acquire (their progress counter is relaxed), so under TSan the only
// happens-before edge from a consumer's free to the producer's reuse of that block is the
// allocator's own inbox protocol.
struct OneWayHandoff {
  explicit OneWayHandoff(std::size_t n) : slots(n) {}
  std::vector<std::atomic<void*>> slots;
  std::atomic<std::uint64_t> consumed{0};
  std::atomic<bool> corrupted{false};
  static constexpr std::uint64_t kWindow = 512;  // blocks in flight, at most

  void produce(std::size_t first, std::size_t step) {
    for (std::size_t i = first; i < slots.size(); i += step) {
      // relaxed: backpressure only; deliberately no synchronisation with the consumers.
      while (i > kWindow && consumed.load(std::memory_order_relaxed) < i - kWindow) std::this_thread::yield();
      // A block freed on this thread as well, so local frees mix with remote ones.
      void* local = frame_alloc(size_for(i + 1));
      fill(local, size_for(i + 1), i + 1);
      std::size_t size = size_for(i);
      void* p = frame_alloc(size);
      fill(p, size, i);
      slots[i].store(p, std::memory_order_release);  // release: the consumer sees the pattern
      if (!intact(local, size_for(i + 1), i + 1)) corrupted = true;
      frame_free(local, size_for(i + 1));
    }
  }

  void consume(std::size_t first, std::size_t step) {
    for (std::size_t i = first; i < slots.size(); i += step) {
      void* p;
      while ((p = slots[i].load(std::memory_order_acquire)) == nullptr) std::this_thread::yield();
      std::size_t size = size_for(i);
      if (!intact(p, size, i)) corrupted = true;
      std::memset(p, 0xA5, size);  // a write the next owner's writes must be ordered after
      frame_free(p, size);
      consumed.fetch_add(1, std::memory_order_relaxed);  // relaxed: see produce()
    }
  }
};

// Property: blocks allocated on producer threads and freed on consumer threads keep their contents,
// and the producers' reuse of them is ordered after the consumers' last access (checked by TSan).
TEST(FrameAllocatorTest, ProducersAndConsumersHandOffBlocks) {
  constexpr std::size_t kProducers = 2, kConsumers = 2;
  OneWayHandoff h(scaled(100'000));
  std::vector<std::thread> threads;
  for (std::size_t k = 0; k < kProducers; ++k) threads.emplace_back([&, k] { h.produce(k, kProducers); });
  for (std::size_t j = 0; j < kConsumers; ++j) threads.emplace_back([&, j] { h.consume(j, kConsumers); });
  for (auto& t : threads) t.join();
  EXPECT_FALSE(h.corrupted.load());
}

// A bounded queue of blocks between threads (mutex-protected: this test is about memory, the one
// above about ordering).
struct BlockQueue {
  struct Item {
    void* p;
    std::size_t size;
    std::uint64_t seed;
  };
  std::mutex mu;
  std::deque<Item> items;
  std::size_t capacity;

  explicit BlockQueue(std::size_t cap) : capacity(cap) {}
  bool try_push(Item it) {
    std::lock_guard<std::mutex> lock(mu);
    if (items.size() >= capacity) return false;
    items.push_back(it);
    return true;
  }
  bool try_pop(Item& out) {
    std::lock_guard<std::mutex> lock(mu);
    if (items.empty()) return false;
    out = items.front();
    items.pop_front();
    return true;
  }
};

// Property: threads in a ring each allocate blocks of every size and send them to the next thread,
// which checks and frees them, so every heap is freed into by another thread while its owner
// allocates; every block arrives intact and exactly the number sent arrives.
TEST(FrameAllocatorTest, RingOfThreadsFreesEachOthersBlocks) {
  constexpr std::size_t kThreads = 4;
  const std::uint64_t per_thread = scaled(30'000);
  std::vector<std::unique_ptr<BlockQueue>> queues;
  for (std::size_t t = 0; t < kThreads; ++t) queues.push_back(std::make_unique<BlockQueue>(256));
  std::atomic<bool> corrupted{false};
  std::atomic<std::uint64_t> received{0};
  auto body = [&](std::size_t t) {
    BlockQueue& in = *queues[t];
    BlockQueue& out = *queues[(t + 1) % kThreads];
    std::uint64_t sent = 0, got = 0;
    while (sent < per_thread || got < per_thread) {
      BlockQueue::Item it;
      while (in.try_pop(it)) {
        if (!intact(it.p, it.size, it.seed)) corrupted = true;
        frame_free(it.p, it.size);
        ++got;
      }
      for (int burst = 0; burst < 64 && sent < per_thread; ++burst) {
        std::uint64_t seed = t * per_thread + sent;
        std::size_t size = size_for(seed);
        void* p = frame_alloc(size);
        fill(p, size, seed);
        if (!out.try_push({p, size, seed})) {
          frame_free(p, size);  // full: freed locally instead; try again later
          break;
        }
        ++sent;
      }
      if (sent == per_thread) std::this_thread::yield();
    }
    received.fetch_add(got);
  };
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < kThreads; ++t) threads.emplace_back(body, t);
  for (auto& th : threads) th.join();
  EXPECT_FALSE(corrupted.load());
  EXPECT_EQ(received.load(), kThreads * per_thread);
}

// Property: a producer whose blocks are always freed by another thread, with a bounded number in
// flight, keeps reusing them: its memory stays a few spans however many blocks pass (the old
// per-thread cache sent such blocks to the freeing thread's cache or to malloc instead).
TEST(FrameAllocatorTest, CrossThreadFreesReturnToTheAllocatingHeap) {
  constexpr std::size_t kSize = 1024;  // 63 blocks per span; 32 in flight fit in one span
  const std::uint64_t n = scaled(200'000);
  const std::size_t before = frame_allocator_reserved_bytes();
  BlockQueue q(32);
  std::atomic<bool> corrupted{false};
  std::thread producer([&] {
    for (std::uint64_t i = 0; i < n; ++i) {
      void* p = frame_alloc(kSize);
      fill(p, 64, i);  // the first 64 bytes are enough to see a mix-up
      while (!q.try_push({p, kSize, i})) std::this_thread::yield();
    }
  });
  std::thread consumer([&] {
    for (std::uint64_t got = 0; got < n;) {
      BlockQueue::Item it;
      if (!q.try_pop(it)) {
        std::this_thread::yield();
        continue;
      }
      if (!intact(it.p, 64, it.seed)) corrupted = true;
      frame_free(it.p, it.size);
      ++got;
    }
  });
  producer.join();
  consumer.join();
  EXPECT_FALSE(corrupted.load());
  // At most one new heap's first chunk (1 MiB) plus slack, against n KiB passed through.
  EXPECT_LE(frame_allocator_reserved_bytes() - before, 2 * kMiB);
}

// Property: blocks of a thread that has exited can still be read and freed by other threads (its
// heap stays valid), and threads started later reuse that memory instead of growing without bound.
TEST(FrameAllocatorTest, ThreadExitsWhileOthersHoldItsBlocks) {
  constexpr std::uint64_t kBlocks = 2000;
  struct Held {
    void* p;
    std::size_t size;
    std::uint64_t seed;
  };
  std::size_t after_first_round = 0;
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<Held> held;
    std::thread owner([&] {
      for (std::uint64_t i = 0; i < kBlocks; ++i) {
        std::uint64_t seed = round * kBlocks + i;
        std::size_t size = 16 + (i % 64) * 16;
        void* p = frame_alloc(size);
        fill(p, size, seed);
        held.push_back({p, size, seed});
      }
    });
    owner.join();  // the allocating thread is gone; its heap is orphaned
    // Half freed by this thread, half by a thread that never allocates.
    std::size_t half = held.size() / 2;
    for (std::size_t i = 0; i < half; ++i) {
      ASSERT_TRUE(intact(held[i].p, held[i].size, held[i].seed));
      frame_free(held[i].p, held[i].size);
    }
    std::atomic<bool> corrupted{false};
    std::thread freer([&] {
      for (std::size_t i = half; i < held.size(); ++i) {
        if (!intact(held[i].p, held[i].size, held[i].seed)) corrupted = true;
        frame_free(held[i].p, held[i].size);
      }
    });
    freer.join();
    ASSERT_FALSE(corrupted.load());
    if (round == 0) after_first_round = frame_allocator_reserved_bytes();
  }
  // Each round passes about 1 MiB of blocks; a lost heap or lost blocks would add that per round.
  EXPECT_LE(frame_allocator_reserved_bytes() - after_first_round, 8 * kMiB);
}

// Blocks touched by a thread_local destructor that runs after the allocator gave the thread's heap up.
struct ExitProbe {
  void* early = nullptr;  // allocated while the thread was running
  std::size_t early_size = 0;
  std::atomic<void*>* out = nullptr;
  ~ExitProbe() {
    if (early != nullptr) {
      bool ok = intact(early, early_size, 7);
      frame_free(early, early_size);  // the thread no longer owns a heap: a remote free
      void* scratch = frame_alloc(200);
      fill(scratch, 200, 8);
      if (ok && intact(scratch, 200, 8)) {
        frame_free(scratch, 200);
        void* last = frame_alloc(300);  // handed to the joining thread
        fill(last, 300, 9);
        out->store(last, std::memory_order_release);
      }
    }
  }
};
thread_local ExitProbe exit_probe;

// Property: allocating and freeing from thread_local destructors that run after the allocator's own
// per-thread teardown still works, and a block allocated there outlives the thread.
TEST(FrameAllocatorTest, ThreadLocalDestructorsMayAllocateAndFree) {
  std::atomic<void*> out{nullptr};
  std::thread t([&] {
    exit_probe.out = &out;  // constructed first, so destroyed after the allocator's releaser
    exit_probe.early_size = 120;
    exit_probe.early = frame_alloc(120);
    fill(exit_probe.early, 120, 7);
  });
  t.join();
  void* last = out.load(std::memory_order_acquire);
  ASSERT_NE(last, nullptr);
  EXPECT_TRUE(intact(last, 300, 9));
  frame_free(last, 300);
}

}  // namespace

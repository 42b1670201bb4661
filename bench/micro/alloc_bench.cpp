// Micro benchmarks of the frame allocator (tether/core/detail/frame_allocator.hpp) against malloc:
// alloc + free on one thread (one block, and a batch of 64), and a cross-thread handoff where one
// thread allocates and another frees, the pattern of a task spawned on one worker and finished on
// another.
//
//   build/<dir>/bench/tether_micro_bench --benchmark_filter=Alloc
//
// Sizes: 64 (a small task cell), 256 and 768 (typical coroutine frames). "Malloc" rows use
// std::malloc/std::free (glibc), the allocator frames used for every block past the old per-thread
// cache. The handoff benchmarks report real time and items_per_second over both threads' work.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

#include "tether/core/detail/frame_allocator.hpp"
#include "tether/core/detail/sync_shim.hpp"

namespace {

using tether::detail::frame_alloc;
using tether::detail::frame_free;

struct FrameAlloc {
  static void* alloc(std::size_t n) { return frame_alloc(n); }
  static void free(void* p, std::size_t n) { frame_free(p, n); }
};
struct Malloc {
  static void* alloc(std::size_t n) { return std::malloc(n); }
  static void free(void* p, std::size_t) { std::free(p); }
};

// ---------------------------------------------------------------------------------------------
// Same thread: allocate and free one block.
// ---------------------------------------------------------------------------------------------
template <class A>
void BM_AllocFreeOne(benchmark::State& state) {
  auto size = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void* p = A::alloc(size);
    benchmark::DoNotOptimize(p);
    A::free(p, size);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK_TEMPLATE(BM_AllocFreeOne, FrameAlloc)->Arg(64)->Arg(256)->Arg(768);
BENCHMARK_TEMPLATE(BM_AllocFreeOne, Malloc)->Arg(64)->Arg(256)->Arg(768);

// Same thread: allocate 64 blocks, then free them (lists grow and shrink; spans are walked).
template <class A>
void BM_AllocFreeBatch(benchmark::State& state) {
  auto size = static_cast<std::size_t>(state.range(0));
  constexpr int kBatch = 64;
  void* blocks[kBatch];
  for (auto _ : state) {
    for (auto& b : blocks) b = A::alloc(size);
    benchmark::DoNotOptimize(blocks);
    for (auto* b : blocks) A::free(b, size);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kBatch);
}
BENCHMARK_TEMPLATE(BM_AllocFreeBatch, FrameAlloc)->Arg(64)->Arg(256)->Arg(768);
BENCHMARK_TEMPLATE(BM_AllocFreeBatch, Malloc)->Arg(64)->Arg(256)->Arg(768);

// ---------------------------------------------------------------------------------------------
// Cross-thread handoff: this thread allocates (and writes a word, as a frame's constructor would),
// a consumer thread frees, through a single-producer single-consumer ring of 1024 slots.
// ---------------------------------------------------------------------------------------------
class SpscRing {
 public:
  static constexpr std::size_t kSlots = 1024;

  bool try_push(void* p) {
    std::size_t t = tail_.load(std::memory_order_relaxed);  // relaxed: only this thread writes tail_
    // acquire: pairs with the release store of head_ in try_pop, so the slot is free.
    if (t - head_.load(std::memory_order_acquire) == kSlots) return false;
    slots_[t % kSlots] = p;
    tail_.store(t + 1, std::memory_order_release);  // release: pairs with the acquire in try_pop
    return true;
  }
  void* try_pop() {
    std::size_t h = head_.load(std::memory_order_relaxed);  // relaxed: only this thread writes head_
    // acquire: pairs with the release store of tail_ in try_push, so the slot's pointer is visible.
    if (h == tail_.load(std::memory_order_acquire)) return nullptr;
    void* p = slots_[h % kSlots];
    head_.store(h + 1, std::memory_order_release);  // release: pairs with the acquire in try_push
    return p;
  }

 private:
  alignas(64) tether::detail::Atomic<std::size_t> head_{0};
  alignas(64) tether::detail::Atomic<std::size_t> tail_{0};
  alignas(64) void* slots_[kSlots] = {};
};

template <class A>
void BM_AllocCrossThreadHandoff(benchmark::State& state) {
  auto size = static_cast<std::size_t>(state.range(0));
  SpscRing ring;
  std::atomic<bool> done{false};
  std::thread consumer([&] {
    for (;;) {
      if (void* p = ring.try_pop()) {
        A::free(p, size);
        continue;
      }
      if (done.load(std::memory_order_acquire)) {  // acquire: pairs with the store after the last push
        if (void* p = ring.try_pop()) {
          A::free(p, size);
          continue;
        }
        break;
      }
      tether::detail::cpu_relax();
    }
  });
  for (auto _ : state) {
    void* p = A::alloc(size);
    *static_cast<std::uint64_t*>(p) = 1;
    while (!ring.try_push(p)) tether::detail::cpu_relax();
  }
  done.store(true, std::memory_order_release);  // release: the consumer then sees every push
  consumer.join();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK_TEMPLATE(BM_AllocCrossThreadHandoff, FrameAlloc)->Arg(64)->Arg(256)->Arg(768)->UseRealTime();
BENCHMARK_TEMPLATE(BM_AllocCrossThreadHandoff, Malloc)->Arg(64)->Arg(256)->Arg(768)->UseRealTime();

}  // namespace

// Micro benchmarks of tether/sync: the contended async mutex of the peer suite (1,000 tasks x
// 1,000 lock/unlock on 2 workers), the uncontended lock, and Shared<T> reads.
// Run: build with -DCMAKE_BUILD_TYPE=Release -DTETHER_BUILD_BENCH=ON, then
//   ./bench/tether_micro_bench --benchmark_filter=Sync
#include <benchmark/benchmark.h>

#include <atomic>
#include <thread>
#include <vector>

#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/sync/mutex.hpp"
#include "tether/sync/shared.hpp"

namespace {

using tether::Task;

// The peer suite's `mutex` workload: 1,000 tasks each lock, increment and unlock 1,000 times.
// Arg: workers (2 is the peer suite's setting; 1 shows the scheduler-only floor).
void BM_SyncMutexContended1000x1000(benchmark::State& state) {
  tether::Runtime rt({.workers = static_cast<unsigned>(state.range(0))});
  for (auto _ : state) {
    tether::sync::Mutex<long> m(0);
    auto root = [](tether::sync::Mutex<long>* m) -> Task<long> {
      std::vector<tether::JoinHandle<void>> hs;
      hs.reserve(1000);
      for (int t = 0; t < 1000; ++t) {
        hs.push_back(tether::spawn([](tether::sync::Mutex<long>* m) -> Task<void> {
          for (int i = 0; i < 1000; ++i) co_await m->with([](long& v) { ++v; });
        }(m)));
      }
      for (auto& h : hs) co_await h;
      co_return co_await m->with([](long& v) { return v; });
    };
    long total = rt.block_on(root(&m));
    if (total != 1'000'000) state.SkipWithError("lost increments");
  }
  state.SetItemsProcessed(state.iterations() * 1'000'000);
}
BENCHMARK(BM_SyncMutexContended1000x1000)->Arg(2)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

// One task, nobody else: the cost of `co_await m.with(...)` on the fast path.
void BM_SyncMutexUncontended(benchmark::State& state) {
  tether::Runtime rt({.workers = 1});
  tether::sync::Mutex<long> m(0);
  const auto n = static_cast<long>(state.max_iterations);
  auto root = [](tether::sync::Mutex<long>* m, long n) -> Task<void> {
    for (long i = 0; i < n; ++i) co_await m->with([](long& v) { ++v; });
  };
  (void)n;
  for (auto _ : state) {
    rt.block_on(root(&m, 1'000'000));
  }
  state.counters["ns_per_lock"] = benchmark::Counter(static_cast<double>(state.iterations()) * 1e6,
                                                     benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_SyncMutexUncontended)->Unit(benchmark::kMillisecond)->UseRealTime();

// Shared<T>::read() from `threads` threads while one writer stores every 100 us.
void BM_SyncSharedRead(benchmark::State& state) {
  static tether::sync::Shared<std::vector<int>>* shared = nullptr;
  static std::atomic<bool> stop{false};
  static std::thread* writer = nullptr;
  if (state.thread_index() == 0) {
    shared = new tether::sync::Shared<std::vector<int>>(std::vector<int>(16, 1));
    stop = false;
    writer = new std::thread([] {
      int v = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        shared->store(std::vector<int>(16, ++v));
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    });
  }
  long sum = 0;
  for (auto _ : state) {
    sum += shared->read([](const std::vector<int>& v) { return v[3]; });
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    stop = true;
    writer->join();
    delete writer;
    delete shared;
  }
}
BENCHMARK(BM_SyncSharedRead)->Threads(1)->Threads(2);

}  // namespace

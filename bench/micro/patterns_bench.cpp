// Micro benchmarks for tether/patterns: the per-call cost of a closed CircuitBreaker, and pipeline
// throughput per stage.
//
// Wall time (UseRealTime): block_on waits on its thread, so its CPU time says nothing.
// Run: tether_micro_bench --benchmark_filter='Breaker|Pipeline'
#include <benchmark/benchmark.h>

#include <ranges>

#include "tether/core/runtime.hpp"
#include "tether/patterns/circuit_breaker.hpp"
#include "tether/patterns/pipeline.hpp"
#include "tether/patterns/retry.hpp"

namespace {

using tether::Task;

Task<int> trivial(int i) { co_return i; }

// Baseline: awaiting the operation directly, N times in one task.
void BM_BreakerBaselineDirectCall(benchmark::State& state) {
  tether::Runtime rt({.workers = 1});
  for (auto _ : state) {
    int sum = rt.block_on([]() -> Task<int> {
      int s = 0;
      for (int i = 0; i < 1000; ++i) s += co_await trivial(i);
      co_return s;
    }());
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_BreakerBaselineDirectCall)->UseRealTime();

// The same calls through a closed breaker (admission, timing, recording in the window).
void BM_BreakerClosedCall(benchmark::State& state) {
  tether::Runtime rt({.workers = 1});
  tether::CircuitBreaker breaker({.name = "bench", .window_size = 100});
  for (auto _ : state) {
    int sum = rt.block_on([](tether::CircuitBreaker* b) -> Task<int> {
      int s = 0;
      for (int i = 0; i < 1000; ++i) s += co_await b->call([i] { return trivial(i); });
      co_return s;
    }(&breaker));
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_BreakerClosedCall)->UseRealTime();

// retry() whose first attempt succeeds: the cost of the wrapper alone.
void BM_RetryFirstAttemptSucceeds(benchmark::State& state) {
  tether::Runtime rt({.workers = 1});
  for (auto _ : state) {
    int sum = rt.block_on([]() -> Task<int> {
      int s = 0;
      tether::RetryPolicy policy{.seed = 1};
      for (int i = 0; i < 1000; ++i) s += co_await tether::retry([i] { return trivial(i); }, policy);
      co_return s;
    }());
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_RetryFirstAttemptSucceeds)->UseRealTime();

// Items per second through a pipeline of `stages` trivial stages (plus source and sink), each with
// `parallelism` workers (ordered), on a 2-worker runtime. Items/s divided by (stages + 2) is the
// per-stage hand-off rate.
void BM_PipelineThroughput(benchmark::State& state) {
  const int stages = static_cast<int>(state.range(0));
  const std::size_t parallelism = static_cast<std::size_t>(state.range(1));
  const int n = 20000;
  tether::Runtime rt({.workers = 2});
  for (auto _ : state) {
    long sum = rt.block_on([](int stages, std::size_t par, int n) -> Task<long> {
      long s = 0;
      auto p = tether::pipeline(std::views::iota(0, n), {.capacity = 256});
      if (stages == 1) {
        co_await std::move(p)
            .stage([](int i) { return i + 1; }, {.parallelism = par, .capacity = 256})
            .sink([&s](int v) { s += v; });
      } else {
        co_await std::move(p)
            .stage([](int i) { return i + 1; }, {.parallelism = par, .capacity = 256})
            .stage([](int i) { return i + 1; }, {.parallelism = par, .capacity = 256})
            .stage([](int i) { return i + 1; }, {.parallelism = par, .capacity = 256})
            .sink([&s](int v) { s += v; });
      }
      co_return s;
    }(stages, parallelism, n));
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["stages"] = stages;
}
BENCHMARK(BM_PipelineThroughput)
    ->Args({1, 1})
    ->Args({3, 1})
    ->Args({1, 2})
    ->Args({3, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

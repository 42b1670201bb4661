// Micro benchmarks of tether's core: spawn + join, yield, skynet, sequential Task await, timer insert
// and cancel, cancellation latency.
//
//   build/<dir>/bench/tether_micro_bench --benchmark_filter=Skynet
//
// Each benchmark builds one Runtime (2 workers unless it says otherwise) outside the timed loop, and
// each iteration runs a batch of operations as one task through block_on(), so the cost of handing
// the batch to a worker and back (a few microseconds) is spread over the batch. The work happens on
// the workers, not on the benchmark's thread: every benchmark therefore reports real time
// (UseRealTime) and process CPU time (MeasureProcessCPUTime). items_per_second counts the
// operation named by the benchmark (tasks, yields, awaits, timers, aborts).
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include <spdlog/spdlog.h>

#include "tether/tether.hpp"

namespace {

using tether::JoinHandle;
using tether::Task;

struct QuietLogs {
  QuietLogs() { spdlog::set_level(spdlog::level::warn); }  // lifecycle logging off: it is measured
} quiet_logs;

// ---------------------------------------------------------------------------------------------
// spawn + join: one task spawns n trivial tasks and awaits every handle.
// ---------------------------------------------------------------------------------------------
Task<std::uint64_t> one() { co_return 1; }

Task<std::uint64_t> spawn_join(std::uint64_t n) {
  std::vector<JoinHandle<std::uint64_t>> handles;
  handles.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) handles.push_back(tether::spawn(one()));
  std::uint64_t sum = 0;
  for (auto& h : handles) sum += co_await h;
  co_return sum;
}

void BM_SpawnJoin(benchmark::State& state) {
  tether::Runtime rt({.workers = 2});
  auto n = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    std::uint64_t sum = rt.block_on(spawn_join(n));
    if (sum != n) state.SkipWithError("not every task ran");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_SpawnJoin)
    ->Arg(1'000)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMicrosecond);

// spawn + join one at a time: spawn a task, await it, repeat (the round trip of one task).
Task<std::uint64_t> spawn_join_serial(std::uint64_t n) {
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < n; ++i) sum += co_await tether::spawn(one());
  co_return sum;
}

void BM_SpawnJoinSerial(benchmark::State& state) {
  tether::Runtime rt({.workers = 2});
  const std::uint64_t n = 10'000;
  for (auto _ : state) benchmark::DoNotOptimize(rt.block_on(spawn_join_serial(n)));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_SpawnJoinSerial)->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------------------------
// yield: one task yields n times (alone on its worker: each yield requeues it and runs it again).
// ---------------------------------------------------------------------------------------------
Task<void> yield_n(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) co_await tether::yield_now();
}

void BM_Yield(benchmark::State& state) {
  tether::Runtime rt({.workers = 2});
  const std::uint64_t n = 100'000;
  for (auto _ : state) rt.block_on(yield_n(n));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_Yield)->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);

// Two tasks yielding alternately on one worker: every yield is a switch to the other task.
Task<void> two_yielders(std::uint64_t n) {
  auto a = tether::spawn(yield_n(n));
  auto b = tether::spawn(yield_n(n));
  co_await a;
  co_await b;
}

void BM_YieldAlternating(benchmark::State& state) {
  tether::Runtime rt({.workers = 1});
  const std::uint64_t n = 100'000;
  for (auto _ : state) rt.block_on(two_yielders(n));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 2 * n));
}
BENCHMARK(BM_YieldAlternating)->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------------------------
// skynet: 1,000,000 leaves, 10 children per node (1,111,111 tasks), children joined by handle.
// ---------------------------------------------------------------------------------------------
Task<std::uint64_t> skynet_node(std::uint64_t num, std::uint64_t size, std::uint64_t branch) {
  if (size == 1) co_return num;
  std::uint64_t child = size / branch;
  std::vector<JoinHandle<std::uint64_t>> handles;
  handles.reserve(branch);
  for (std::uint64_t i = 0; i < branch; ++i)
    handles.push_back(tether::spawn(skynet_node(num + i * child, child, branch)));
  std::uint64_t sum = 0;
  for (auto& h : handles) sum += co_await h;
  co_return sum;
}

void BM_Skynet(benchmark::State& state) {
  tether::Runtime rt({.workers = 2});
  const std::uint64_t n = 1'000'000;
  for (auto _ : state) {
    std::uint64_t sum = rt.block_on(skynet_node(0, n, 10));
    if (sum != n * (n - 1) / 2) state.SkipWithError("wrong skynet sum");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 1'111'111));
}
BENCHMARK(BM_Skynet)->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------------
// Sequential Task await: a loop awaiting n short Tasks (frame from the recycling allocator,
// symmetric transfer in and out).
// ---------------------------------------------------------------------------------------------
Task<std::uint64_t> add_one(std::uint64_t x) { co_return x + 1; }

Task<std::uint64_t> await_loop(std::uint64_t n) {
  std::uint64_t x = 0;
  for (std::uint64_t i = 0; i < n; ++i) x = co_await add_one(x);
  co_return x;
}

void BM_SequentialAwait(benchmark::State& state) {
  tether::Runtime rt({.workers = 2});
  const std::uint64_t n = 1'000'000;
  for (auto _ : state) {
    if (rt.block_on(await_loop(n)) != n) state.SkipWithError("wrong count");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_SequentialAwait)->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------------------------
// Timers: timeout() around an operation that is ready at once (a timer inserted and removed, a
// scope node, a coroutine frame), and a sleep that is cancelled (spawn, park in sleep, abort, join).
// ---------------------------------------------------------------------------------------------
Task<std::uint64_t> ready_op(std::uint64_t x) { co_return x + 1; }

Task<std::uint64_t> timeout_loop(std::uint64_t n) {
  std::uint64_t x = 0;
  for (std::uint64_t i = 0; i < n; ++i) x = co_await tether::timeout(std::chrono::seconds(1), ready_op(x));
  co_return x;
}

void BM_TimeoutReady(benchmark::State& state) {
  tether::Runtime rt({.workers = 2});
  const std::uint64_t n = 100'000;
  for (auto _ : state) {
    if (rt.block_on(timeout_loop(n)) != n) state.SkipWithError("wrong count");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_TimeoutReady)->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);

Task<void> long_sleep(std::atomic<bool>* parked) {
  parked->store(true, std::memory_order_relaxed);
  co_await tether::sleep(std::chrono::hours(1));
}

// One round: spawn a task that parks in a one-hour sleep, wait until it has started, abort it and
// await its handle. Returns the nanoseconds from abort() to the join's return.
Task<std::uint64_t> abort_sleeper_once() {
  std::atomic<bool> parked{false};
  auto h = tether::spawn(long_sleep(&parked));
  while (!parked.load(std::memory_order_relaxed)) co_await tether::yield_now();
  auto t0 = std::chrono::steady_clock::now();
  h.abort();
  try {
    co_await h;
  } catch (const tether::Cancelled&) {
  }
  co_return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
}

Task<std::uint64_t> abort_sleepers(std::uint64_t n) {
  std::uint64_t total_ns = 0;
  for (std::uint64_t i = 0; i < n; ++i) total_ns += co_await abort_sleeper_once();
  co_return total_ns;
}

// Throughput of the whole round (spawn, timer insert, abort, timer removal, join).
void BM_SleepAbort(benchmark::State& state) {
  tether::Runtime rt({.workers = 2});
  const std::uint64_t n = 10'000;
  for (auto _ : state) benchmark::DoNotOptimize(rt.block_on(abort_sleepers(n)));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_SleepAbort)->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);

// Cancellation latency: time from abort() of a task blocked in sleep until its join returns.
// Manual time: an iteration is a batch of 1,000 aborts and only the abort-to-join spans count;
// `latency_ns` is their mean.
void BM_CancelLatency(benchmark::State& state) {
  tether::Runtime rt({.workers = 2});
  const std::uint64_t batch = 1'000;
  std::uint64_t total_ns = 0;
  for (auto _ : state) {
    std::uint64_t ns = rt.block_on(abort_sleepers(batch));
    total_ns += ns;
    state.SetIterationTime(static_cast<double>(ns) / 1e9);
  }
  std::uint64_t aborts = state.iterations() * batch;
  state.SetItemsProcessed(static_cast<std::int64_t>(aborts));
  state.counters["latency_ns"] = aborts ? static_cast<double>(total_ns) / static_cast<double>(aborts) : 0.0;
}
BENCHMARK(BM_CancelLatency)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace

// Channel micro benchmarks (issue 5), the same workloads as the peer suite (docs/benchmarks.md):
//   BM_MpscThroughput/P: P producer tasks, one bounded channel of capacity 1024, the main task
//     receives 10,000,000 values (producer p sends p, p+P, ... < 10M) and checks their sum.
//   BM_PingPong: two capacity-1 channels, 1,000,000 round trips (send i, wait for i+1).
//   BM_SelectRecvSleep: 1,000,000 iterations of select(rx.recv(), sleep(1ms)) with a producer
//     (the full-size version of tests/channel/select_recv_test.cpp).
// Each iteration is one whole run on a fresh 2-worker runtime; the reported time is per run.
//
// Run: build/release/bench/tether_micro_bench --benchmark_filter='Mpsc|PingPong|SelectRecv'
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "tether/channel/mpsc.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/select.hpp"
#include "tether/core/spawn.hpp"
#include "tether/time/sleep.hpp"

namespace {

using tether::Task;

constexpr std::uint64_t kMpscValues = 10'000'000;
constexpr std::uint64_t kRoundTrips = 1'000'000;

void fail(const char* what) {
  std::fprintf(stderr, "channel_bench: %s\n", what);
  std::abort();
}

Task<void> mpsc_producer(tether::mpsc::Sender<std::uint64_t> tx, std::uint64_t p, std::uint64_t step) {
  for (std::uint64_t v = p; v < kMpscValues; v += step) {
    if (!co_await tx.send(v)) fail("mpsc: closed");
  }
}

Task<void> mpsc_run(std::uint64_t producers) {
  auto [tx, rx] = tether::mpsc::channel<std::uint64_t>(1024);
  std::vector<tether::JoinHandle<void>> hs;
  for (std::uint64_t p = 0; p < producers; ++p) hs.push_back(tether::spawn(mpsc_producer(tx, p, producers)));
  { auto drop = std::move(tx); }
  std::uint64_t sum = 0, n = 0;
  while (auto v = co_await rx.recv()) {
    sum += *v;
    ++n;
  }
  if (n != kMpscValues || sum != kMpscValues * (kMpscValues - 1) / 2) fail("mpsc: wrong sum");
  for (auto& h : hs) co_await h;
}

void BM_MpscThroughput(benchmark::State& state) {
  for (auto _ : state) {
    tether::Runtime rt({.workers = 2});
    rt.block_on(mpsc_run(static_cast<std::uint64_t>(state.range(0))));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kMpscValues));
}
BENCHMARK(BM_MpscThroughput)->Arg(1)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

Task<void> pong(tether::mpsc::Receiver<std::uint64_t> ping, tether::mpsc::Sender<std::uint64_t> reply) {
  while (auto v = co_await ping.recv()) {
    if (!co_await reply.send(*v + 1)) fail("pingpong: closed");
  }
}

Task<void> pingpong_run() {
  auto [ping_tx, ping_rx] = tether::mpsc::channel<std::uint64_t>(1);
  auto [pong_tx, pong_rx] = tether::mpsc::channel<std::uint64_t>(1);
  auto h = tether::spawn(pong(std::move(ping_rx), std::move(pong_tx)));
  for (std::uint64_t i = 0; i < kRoundTrips; ++i) {
    if (!co_await ping_tx.send(i)) fail("pingpong: closed");
    auto r = co_await pong_rx.recv();
    if (!r || *r != i + 1) fail("pingpong: wrong reply");
  }
  { auto drop = std::move(ping_tx); }
  co_await h;
}

void BM_PingPong(benchmark::State& state) {
  for (auto _ : state) {
    tether::Runtime rt({.workers = 2});
    rt.block_on(pingpong_run());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRoundTrips));
}
BENCHMARK(BM_PingPong)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

Task<void> select_run(std::uint64_t n) {
  auto [tx, rx] = tether::mpsc::channel<std::uint64_t>(64);
  auto h = tether::spawn([](tether::mpsc::Sender<std::uint64_t> tx, std::uint64_t n) -> Task<void> {
    for (std::uint64_t i = 0; i < n; ++i) (void)co_await tx.send(i);
  }(std::move(tx), n));
  std::uint64_t expect = 0;
  for (;;) {
    auto r = co_await tether::select(rx.recv(), tether::sleep(std::chrono::milliseconds(1)));
    if (r.index() == 1) continue;
    auto& v = std::get<0>(r);
    if (!v) break;
    if (*v != expect++) fail("select: lost or reordered message");
  }
  if (expect != n) fail("select: lost messages");
  co_await h;
}

void BM_SelectRecvSleep(benchmark::State& state) {
  for (auto _ : state) {
    tether::Runtime rt({.workers = 2});
    rt.block_on(select_run(1'000'000));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 1'000'000));
}
BENCHMARK(BM_SelectRecvSleep)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace

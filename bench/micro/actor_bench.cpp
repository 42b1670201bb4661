// Actor micro benchmarks (issue 8), the workloads of the peer suite's actor rows plus variants:
//   BM_ActorTell/sync:   one sender task tells 1,000,000 integers to a summing actor (mailbox
//                        1024, void handlers), then asks for the sum.
//   BM_ActorTell/async:  the same with Task<void> handlers (a coroutine frame per message).
//   BM_ActorAsk/deadline: 100,000 sequential asks, each with a 10 s deadline (a timer per ask).
//   BM_ActorAsk/never:    the same with Deadline::never() (no timer): the cost of the deadline.
//   BM_SupervisedTell:   BM_ActorTell/sync with the actor under a one-for-one supervisor.
// Each iteration is one whole run on a fresh 2-worker runtime; items/s is messages (or round
// trips) per second.
//
// Run: <build>/bench/tether_micro_bench --benchmark_filter='Actor|Supervised'
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <variant>

#include "tether/actor/actor.hpp"
#include "tether/actor/supervisor.hpp"
#include "tether/core/runtime.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Deadline;
using tether::Task;

constexpr std::int64_t kTells = 1'000'000;
constexpr std::int64_t kAsks = 100'000;

void fail(const char* what) {
  std::fprintf(stderr, "actor_bench: %s\n", what);
  std::abort();
}

struct SumOf {
  tether::Reply<std::int64_t> reply;
};
struct SyncSummer {
  using Message = std::variant<std::int64_t, SumOf>;
  std::int64_t sum = 0;
  void handle(std::int64_t& x) { sum += x; }
  void handle(SumOf& m) { m.reply.send(sum); }
};
struct AsyncSummer {
  using Message = std::variant<std::int64_t, SumOf>;
  std::int64_t sum = 0;
  Task<void> handle(std::int64_t& x) {
    sum += x;
    co_return;
  }
  Task<void> handle(SumOf& m) {
    m.reply.send(sum);
    co_return;
  }
};

template <class Summer>
Task<void> tell_run(tether::ActorRef<typename Summer::Message> ref) {
  for (std::int64_t i = 0; i < kTells; ++i) {
    if (!co_await ref.tell(i)) fail("tell: closed");
  }
  std::int64_t sum = co_await ref.ask(SumOf{}, Deadline::after(60s));
  if (sum != kTells * (kTells - 1) / 2) fail("tell: wrong sum");
}

template <class Summer>
Task<void> tell_workload() {
  auto actor = tether::spawn_actor<Summer>({.name = "summer", .mailbox = 1024});
  co_await tell_run<Summer>(actor.ref());
  actor.stop(tether::StopMode::kDrain);
  co_await actor.join();
}

void BM_ActorTell(benchmark::State& state, bool async) {
  for (auto _ : state) {
    tether::Runtime rt({.workers = 2});
    if (async) {
      rt.block_on(tell_workload<AsyncSummer>());
    } else {
      rt.block_on(tell_workload<SyncSummer>());
    }
  }
  state.SetItemsProcessed(state.iterations() * kTells);
}
BENCHMARK_CAPTURE(BM_ActorTell, sync, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ActorTell, async, true)->Unit(benchmark::kMillisecond)->UseRealTime();

struct PlusOne {
  std::int64_t x = 0;
  tether::Reply<std::int64_t> reply;
};
struct Echo {
  using Message = PlusOne;
  void handle(PlusOne& m) { m.reply.send(m.x + 1); }
};

Task<void> ask_workload(bool with_deadline) {
  auto server = tether::spawn_actor<Echo>({.name = "echo", .mailbox = 64});
  const auto& ref = server.ref();
  for (std::int64_t i = 0; i < kAsks; ++i) {
    Deadline d = with_deadline ? Deadline::after(10s) : Deadline::never();
    if (co_await ref.ask(PlusOne{i, {}}, d) != i + 1) fail("ask: wrong reply");
  }
  server.stop(tether::StopMode::kDrain);
  co_await server.join();
}

void BM_ActorAsk(benchmark::State& state, bool with_deadline) {
  for (auto _ : state) {
    tether::Runtime rt({.workers = 2});
    rt.block_on(ask_workload(with_deadline));
  }
  state.SetItemsProcessed(state.iterations() * kAsks);
}
BENCHMARK_CAPTURE(BM_ActorAsk, deadline, true)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ActorAsk, never, false)->Unit(benchmark::kMillisecond)->UseRealTime();

Task<void> supervised_tell_workload() {
  tether::Supervisor sup({.name = "bench"});
  auto ref = sup.add<SyncSummer>({.name = "summer", .mailbox = 1024});
  auto running = sup.start();
  co_await tell_run<SyncSummer>(ref);
  running.stop(tether::StopMode::kDrain);
  co_await running.join();
}

void BM_SupervisedTell(benchmark::State& state) {
  for (auto _ : state) {
    tether::Runtime rt({.workers = 2});
    rt.block_on(supervised_tell_workload());
  }
  state.SetItemsProcessed(state.iterations() * kTells);
}
BENCHMARK(BM_SupervisedTell)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

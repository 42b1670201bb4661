// Runtime: the work-stealing scheduler and the current-thread flavour.
#include "tether/core/runtime.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "tether/core/yield.hpp"
#include "tether/time/sleep.hpp"

namespace {

using tether::Flavor;
using tether::JoinHandle;
using tether::Runtime;
using tether::Task;

Task<void> mark(std::vector<std::atomic<int>>* hits, std::size_t i) {
  (*hits)[i].fetch_add(1, std::memory_order_relaxed);
  co_return;
}

// Property: a million tasks spawned from many spawner tasks each run exactly once (none lost, none
// run twice), and every join returns.
TEST(RuntimeTest, MillionTasksFromManySpawnersRunExactlyOnce) {
  const std::size_t spawners = 100;
  const std::size_t per = tether::test::scaled(1'000'000) / spawners;
  std::vector<std::atomic<int>> hits(spawners * per);
  Runtime rt({.workers = 2});
  auto spawner = [](std::vector<std::atomic<int>>* hits, std::size_t base, std::size_t n) -> Task<void> {
    std::vector<JoinHandle<void>> hs;
    hs.reserve(n);
    for (std::size_t i = 0; i < n; ++i) hs.push_back(tether::spawn(mark(hits, base + i)));
    for (auto& h : hs) co_await h;
  };
  auto root = [&]() -> Task<void> {
    std::vector<JoinHandle<void>> hs;
    for (std::size_t s = 0; s < spawners; ++s) hs.push_back(tether::spawn(spawner(&hits, s * per, per)));
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root());
  for (std::size_t i = 0; i < hits.size(); ++i) ASSERT_EQ(hits[i].load(), 1) << "task " << i;
  auto m = rt.metrics();
  EXPECT_GE(m.tasks_spawned, hits.size());
  EXPECT_EQ(m.tasks_alive, 0u);
}

// Property: tasks that one task spawns are run by both workers (the idle worker steals).
TEST(RuntimeTest, WorkIsStolenByTheOtherWorker) {
  Runtime rt({.workers = 2});
  std::mutex mu;
  std::set<std::thread::id> threads;
  auto work = [&]() -> Task<void> {
    {
      std::lock_guard<std::mutex> g(mu);
      threads.insert(std::this_thread::get_id());
    }
    // Keep the worker busy briefly so the other one has something to steal.
    auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
    while (std::chrono::steady_clock::now() < until) {
    }
    co_return;
  };
  auto root = [&]() -> Task<void> {
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < 200; ++i) hs.push_back(tether::spawn(work()));
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root());
  EXPECT_EQ(threads.size(), 2u);
  EXPECT_GT(rt.metrics().steals, 0u);
}

// Property: no lost wake-ups: a million spawn-then-join hand-offs, which cross workers, all return.
TEST(RuntimeTest, NoLostWakeupsAcrossWorkers) {
  Runtime rt({.workers = 2});
  const std::size_t n = tether::test::scaled(1'000'000);
  auto one = [](std::size_t i) -> Task<std::size_t> { co_return i; };
  auto root = [&]() -> Task<std::size_t> {
    std::size_t sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += co_await tether::spawn(one(1));
    co_return sum;
  };
  EXPECT_EQ(rt.block_on(root()), n);
}

// Property: a task that keeps yielding does not starve a short task on the same (only) worker.
TEST(RuntimeTest, BusyYieldingTaskDoesNotStarveShortOne) {
  for (Flavor flavor : {Flavor::kMultiThread, Flavor::kCurrentThread}) {
    Runtime rt({.flavor = flavor, .workers = 1});
    std::atomic<bool> done{false};
    auto busy = [&]() -> Task<void> {
      while (!done.load()) co_await tether::yield_now();
    };
    auto shorty = [&]() -> Task<void> {
      done.store(true);
      co_return;
    };
    auto root = [&]() -> Task<void> {
      auto b = tether::spawn(busy());
      auto s = tether::spawn(shorty());
      co_await s;
      co_await b;
    };
    rt.block_on(root());
    EXPECT_TRUE(done.load());
  }
}

// A tree of tasks: each node spawns `branch` children and awaits them. `live` counts the tasks
// spawned and not yet finished, `peak` its highest value.
struct TreeCount {
  std::atomic<std::int64_t> live{0};
  std::atomic<std::int64_t> peak{0};
};
Task<std::uint64_t> tree(std::uint64_t leaves, std::uint64_t branch, TreeCount* count) {
  std::uint64_t sum = 0;
  if (leaves > 1) {
    std::vector<JoinHandle<std::uint64_t>> children;
    for (std::uint64_t i = 0; i < branch; ++i) {
      std::int64_t now = count->live.fetch_add(1) + 1;
      std::int64_t seen = count->peak.load();
      while (now > seen && !count->peak.compare_exchange_weak(seen, now)) {
      }
      children.push_back(tether::spawn(tree(leaves / branch, branch, count)));
    }
    for (auto& c : children) sum += co_await c;
  } else {
    sum = 1;
  }
  count->live.fetch_sub(1);
  co_return sum;
}

// Property: a fan-out unfolds depth-first. A worker runs the newest child of the task it runs next
// and keeps its older siblings queued, so the tasks alive at once are about one path of the tree
// and the siblings along it per worker (here 5 levels x 10 = 50), not a level of the tree (10,000).
TEST(RuntimeTest, FanOutUnfoldsDepthFirst) {
  Runtime rt({.workers = 2});
  TreeCount count;
  count.live = 1;  // the root
  const std::uint64_t leaves = tether::test::scaled(100'000);
  EXPECT_EQ(rt.block_on(tree(leaves, 10, &count)), leaves);
  EXPECT_EQ(count.live.load(), 0);
  // Each steal takes up to half of a queue and opens as many new paths: allow for a few of them.
  EXPECT_LE(count.peak.load(), 1'000) << "peak tasks alive: the tree was run breadth-first";
}

Task<void> nothing() { co_return; }

// Property: a task that waits its turn (here one that yields) is not held up by a queue of newer
// tasks that the worker serves newest first: every global_queue_interval (31) tasks, one task in
// turn goes first. The 99 spawned tasks wait in that queue; the yielder runs about three times
// among them rather than after all of them.
TEST(RuntimeTest, TaskInTurnIsNotHeldUpByNewerWork) {
  Runtime rt({.workers = 1});
  std::atomic<int> yields{0};
  auto yielder = [](std::atomic<int>* yields) -> Task<void> {
    for (int i = 0; i < 1000; ++i) {
      co_await tether::yield_now();
      yields->fetch_add(1);
    }
  };
  int yields_meanwhile = rt.block_on([](auto yielder, std::atomic<int>* yields) -> Task<int> {
    auto y = tether::spawn(yielder(yields));
    co_await tether::yield_now();  // the yielder starts, and from now on waits in turn
    const int before = yields->load();
    std::vector<JoinHandle<void>> handles;
    for (int i = 0; i < 100; ++i) handles.push_back(tether::spawn(nothing()));
    co_await handles.front();  // the oldest: served last
    const int meanwhile = yields->load() - before;
    for (auto& h : handles) co_await h;
    y.abort();
    co_return meanwhile;
  }(yielder, &yields));
  EXPECT_GE(yields_meanwhile, 2) << "the yielding task waited behind all 100 newer tasks";
}

// Two tasks whose timers come due together at `after` from now, each blocking its worker
// (deliberately, like a task that should have used spawn_blocking) until the other has started:
// whichever runs first needs the other worker to take the second. Bounded, so that a regression
// fails instead of hanging. Returns whether both met.
bool two_blocking_tasks_meet(Runtime& rt, std::chrono::milliseconds after) {
  std::atomic<int> started{0};
  auto meet = [](std::atomic<int>* started, tether::Instant at) -> Task<bool> {
    co_await tether::sleep_until(at);
    started->fetch_add(1);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (started->load() < 2) {
      if (std::chrono::steady_clock::now() > give_up) co_return false;
    }
    co_return true;
  };
  return rt.block_on([](auto meet, std::atomic<int>* started, std::chrono::milliseconds after) -> Task<bool> {
    const tether::Instant at = tether::Clock::now() + after;
    auto a = tether::spawn(meet(started, at));
    auto b = tether::spawn(meet(started, at));
    bool ra = co_await a;
    bool rb = co_await b;
    co_return ra&& rb;
  }(meet, &started, after));
}

// Property: tasks woken together by the worker that polled their wake-up (here two timers due in the
// same poll) stay in that worker's queue without waking anyone; when the first of them blocks
// its worker, the other still runs: a parked worker comes to take it (the scheduler's watcher). On
// both I/O backends: on io_uring a worker outside the driver sleeps in its own lane of the driver
// instead of on a condvar (driver.hpp), so the watcher's naps, its help and the hand-overs all go
// through the lanes' wake-ups.
TEST(RuntimeTest, TaskQueuedBehindABlockedWorkerIsTakenByAnother) {
  for (auto backend : {tether::IoBackend::kEpoll, tether::IoBackend::kIoUring}) {
    Runtime rt({.workers = 2, .io_backend = backend});
    for (int round = 0; round < static_cast<int>(tether::test::scaled(20)); ++round) {
      ASSERT_TRUE(two_blocking_tasks_meet(rt, std::chrono::milliseconds(2)))
          << "backend " << static_cast<int>(backend) << ", round " << round
          << ": a task stayed queued behind a blocked worker";
    }
  }
}

// Property: as above, when the two tasks' timers are fired by the watcher itself, napping in the
// driver while the other worker sleeps without limit: the watcher gives up its role to run them,
// and must hand the watch to the sleeper (a watcher's own poll finds the role taken and wakes
// nobody). The pause between rounds lets the runtime settle into that state: one worker watching,
// the other asleep.
TEST(RuntimeTest, WatcherThatPollsTheWorkItselfHandsOverTheWatch) {
  for (auto backend : {tether::IoBackend::kEpoll, tether::IoBackend::kIoUring}) {
    Runtime rt({.workers = 2, .io_backend = backend});
    for (int round = 0; round < static_cast<int>(tether::test::scaled(20)); ++round) {
      std::this_thread::sleep_for(std::chrono::milliseconds(8));
      ASSERT_TRUE(two_blocking_tasks_meet(rt, std::chrono::milliseconds(3)))
          << "backend " << static_cast<int>(backend) << ", round " << round
          << ": a task stayed queued behind a blocked worker";
    }
  }
}

// Property: an idle runtime parks its workers instead of spinning: it burns (almost) no CPU, on
// either I/O backend (on io_uring the workers sleep in their rings).
TEST(RuntimeTest, IdleRuntimeBurnsNoCpu) {
  for (auto backend : {tether::IoBackend::kEpoll, tether::IoBackend::kIoUring}) {
    Runtime rt({.workers = 2, .io_backend = backend});
    rt.block_on([]() -> Task<void> { co_return; }());
    auto cpu = [] {
      rusage ru{};
      getrusage(RUSAGE_SELF, &ru);
      return ru.ru_utime.tv_sec * 1'000'000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1'000'000L +
             ru.ru_stime.tv_usec;
    };
    long before = cpu();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    long used_us = cpu() - before;
    // Two spinning workers would burn ~600 ms here; parked ones burn nothing measurable.
    EXPECT_LT(used_us, 30'000) << "idle runtime (backend " << static_cast<int>(backend) << ") used " << used_us
                               << "us of CPU in 300ms";
  }
}

TEST(RuntimeTest, CurrentThreadFlavourRunsOnCallingThread) {
  Runtime rt({.flavor = Flavor::kCurrentThread});
  auto caller = std::this_thread::get_id();
  auto root = [&]() -> Task<bool> {
    auto h = tether::spawn(
        [](std::thread::id caller) -> Task<bool> { co_return std::this_thread::get_id() == caller; }(caller));
    co_return co_await h&& std::this_thread::get_id() == caller;
  };
  EXPECT_TRUE(rt.block_on(root()));
}

TEST(RuntimeTest, SpawnOutsideRuntimeThrows) {
  auto t = []() -> Task<void> { co_return; };
  EXPECT_THROW((void)tether::spawn(t()), tether::Error);
}

TEST(RuntimeTest, MetricsCountSpawnsCompletionsAndFailures) {
  Runtime rt({.workers = 2});
  auto ok = []() -> Task<void> { co_return; };
  auto bad = []() -> Task<void> {
    throw std::runtime_error("x");
    co_return;
  };
  auto root = [&]() -> Task<void> {
    co_await tether::spawn(ok());
    try {
      co_await tether::spawn(bad());
    } catch (const std::runtime_error&) {
    }
  };
  rt.block_on(root());
  auto m = rt.metrics();
  EXPECT_EQ(m.workers, 2u);
  EXPECT_EQ(m.tasks_spawned, 3u);  // root + ok + bad
  EXPECT_EQ(m.tasks_completed, 3u);
  EXPECT_EQ(m.tasks_failed, 1u);
  EXPECT_EQ(m.tasks_alive, 0u);
  EXPECT_GE(m.polls, 3u);
  ASSERT_EQ(m.local_queue_depths.size(), 2u);
}

TEST(RuntimeTest, WorkerHooksRunOnEachWorker) {
  std::atomic<int> started{0}, stopped{0};
  {
    Runtime rt({.workers = 2,
                .on_worker_start = [&](unsigned) { started.fetch_add(1); },
                .on_worker_stop = [&](unsigned) { stopped.fetch_add(1); }});
    rt.block_on([]() -> Task<void> { co_return; }());
  }
  EXPECT_EQ(started.load(), 2);
  EXPECT_EQ(stopped.load(), 2);
}

}  // namespace

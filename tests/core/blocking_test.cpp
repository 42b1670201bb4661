// spawn_blocking / spawn_compute: results, exceptions, and the pools' bounds.
#include "tether/core/blocking.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tether/core/runtime.hpp"
#include "tether/core/yield.hpp"

namespace {

using tether::Runtime;
using tether::Task;

TEST(BlockingTest, ResultAndExceptionPropagate) {
  Runtime rt({.workers = 2});
  auto root = []() -> Task<void> {
    EXPECT_EQ(co_await tether::spawn_blocking([] { return 41 + 1; }), 42);
    EXPECT_EQ(co_await tether::spawn_compute([] { return 6 * 7; }), 42);
    EXPECT_THROW(co_await tether::spawn_blocking([]() -> int { throw std::runtime_error("io"); }), std::runtime_error);
    co_await tether::spawn_blocking([] {});
  };
  rt.block_on(root());
}

// Property: with 2 threads and a queue of 2, no more than 2 jobs ever run at once and no more than
// 2 threads exist, however many tasks submit at once; every job still completes (the submitters
// that found the queue full waited for room).
TEST(BlockingTest, PoolNeverExceedsItsBounds) {
  Runtime rt({.workers = 2, .blocking_threads = 2, .blocking_queue = 2});
  std::atomic<int> running{0}, peak{0}, done{0};
  auto job = [&]() -> Task<void> {
    co_await tether::spawn_blocking([&] {
      int now = running.fetch_add(1) + 1;
      int p = peak.load();
      while (now > p && !peak.compare_exchange_weak(p, now)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      running.fetch_sub(1);
      done.fetch_add(1);
    });
  };
  auto root = [&]() -> Task<void> {
    std::vector<tether::JoinHandle<void>> hs;
    for (int i = 0; i < 40; ++i) hs.push_back(tether::spawn(job()));
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root());
  EXPECT_EQ(done.load(), 40);
  EXPECT_LE(peak.load(), 2);
  auto m = rt.metrics();
  EXPECT_LE(m.blocking_threads, 2u);
  EXPECT_EQ(m.blocking_queue_depth, 0u);
}

TEST(BlockingTest, CancelledWaiterDropsJobThatHasNotStarted) {
  Runtime rt({.workers = 2, .blocking_threads = 1, .blocking_queue = 4});
  std::atomic<bool> release{false};
  std::atomic<int> ran{0};
  auto root = [&]() -> Task<void> {
    // Occupy the only thread, then queue a second job and cancel its waiter.
    auto first = tether::spawn([](std::atomic<bool>* release) -> Task<void> {
      co_await tether::spawn_blocking([release] {
        while (!release->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      });
    }(&release));
    while (rt.metrics().blocking_threads == 0 || rt.metrics().blocking_idle_threads != 0) co_await tether::yield_now();
    auto second = tether::spawn([](std::atomic<int>* ran) -> Task<void> {
      co_await tether::spawn_blocking([ran] { ran->fetch_add(1); });
    }(&ran));
    while (rt.metrics().blocking_queue_depth == 0) co_await tether::yield_now();
    second.abort();
    EXPECT_THROW(co_await second, tether::Cancelled);
    release.store(true);
    co_await first;
  };
  rt.block_on(root());
  EXPECT_EQ(ran.load(), 0);
}

}  // namespace

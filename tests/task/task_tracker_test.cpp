// TaskTracker: wait after close, the concurrency limit, cancel-all.
#include "tether/task/task_tracker.hpp"

#include <gtest/gtest.h>

#include <atomic>

#include "test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/yield.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Task;
using tether::TaskTracker;
using tether::testing::VirtualRuntime;

Task<void> work(std::chrono::milliseconds d, std::atomic<int>* running, std::atomic<int>* peak,
                std::atomic<int>* done) {
  int now = running->fetch_add(1) + 1;
  int p = peak->load();
  while (now > p && !peak->compare_exchange_weak(p, now)) {
  }
  co_await tether::sleep(d);
  running->fetch_sub(1);
  done->fetch_add(1);
}

TEST(TaskTrackerTest, WaitReturnsOnceClosedAndEmpty) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    std::atomic<int> running{0}, peak{0}, done{0};
    TaskTracker tracker;
    for (int i = 1; i <= 5; ++i)
      (void)tracker.spawn_now(work(std::chrono::milliseconds(i * 10), &running, &peak, &done));
    tracker.close();
    co_await tracker.wait();
    EXPECT_EQ(done.load(), 5);
    EXPECT_EQ(tether::Clock::now().time_since_epoch(), 50ms);
    EXPECT_EQ(tracker.len(), 0u);
  }());
}

// Property: with limit 3, never more than 3 tracked tasks run at once (high-water mark), and all
// of them still run.
TEST(TaskTrackerTest, LimitBoundsConcurrency) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    std::atomic<int> running{0}, peak{0}, done{0};
    TaskTracker tracker({.name = "bounded", .limit = 3});
    for (int i = 0; i < 20; ++i) (void)co_await tracker.spawn(work(10ms, &running, &peak, &done));
    tracker.close();
    co_await tracker.wait();
    EXPECT_EQ(done.load(), 20);
    EXPECT_EQ(peak.load(), 3);
  }());
}

TEST(TaskTrackerTest, CancelStopsTrackedTasks) {
  tether::Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    TaskTracker tracker;
    std::vector<tether::JoinHandle<void>> hs;
    for (int i = 0; i < 10; ++i) hs.push_back(tracker.spawn_now([]() -> Task<void> { co_await tether::sleep(1h); }()));
    tracker.close();
    tracker.cancel();
    co_await tracker.wait();
    for (auto& h : hs) EXPECT_THROW(co_await h, tether::Cancelled);
  }());
}

TEST(TaskTrackerTest, SpawnOnClosedTrackerThrows) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    TaskTracker tracker;
    tracker.close();
    EXPECT_THROW((void)tracker.spawn_now([]() -> Task<void> { co_return; }()), tether::Error);
    co_await tracker.wait();
  }());
}

// Property: a task aborted before it ever ran still leaves the tracker (wait() does not hang).
TEST(TaskTrackerTest, AbortedUnstartedTaskLeavesTheTracker) {
  tether::Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  rt.block_on([]() -> Task<void> {
    TaskTracker tracker;
    auto h = tracker.spawn_now([]() -> Task<void> { co_return; }());
    h.abort();
    tracker.close();
    co_await tracker.wait();
    EXPECT_THROW(co_await h, tether::Cancelled);
  }());
}

// Property: a background task is waited for like any tracked task, and its failure reaches the log.
TEST(TaskTrackerTest, BackgroundTaskIsWaitedForAndItsFailureLogged) {
  tether::test::LogCapture log;
  std::atomic<int> done{0};
  {
    tether::Runtime rt({.workers = 2, .logger = log.logger});
    rt.block_on([](std::atomic<int>* done) -> Task<void> {
      TaskTracker tracker;
      tracker.spawn_background([](std::atomic<int>* done) -> Task<void> {
        co_await tether::yield_now();
        done->fetch_add(1);
      }(done));
      tracker.spawn_background(
          []() -> Task<void> {
            co_await tether::yield_now();
            throw std::runtime_error("background boom");
          }(),
          {.name = "doomed background"});
      tracker.close();
      co_await tracker.wait();
      EXPECT_EQ(tracker.len(), 0u);
    }(&done));
  }
  EXPECT_EQ(done.load(), 1);
  EXPECT_TRUE(log.contains("'doomed background' failed and nobody awaited it: background boom"));
}

}  // namespace

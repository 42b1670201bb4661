// Runtime::shutdown(grace): cancels everything, waits, reports what would not stop.
#include <gtest/gtest.h>

#include <atomic>

#include "test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/shield.hpp"
#include "tether/core/yield.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Runtime;
using tether::Task;

TEST(ShutdownTest, CleanShutdownCancelsSleepersAndReportsNothing) {
  Runtime rt({.workers = 2});
  std::atomic<int> unwound{0};
  rt.block_on([](Runtime* rt, std::atomic<int>* unwound) -> Task<void> {
    for (int i = 0; i < 10; ++i) {
      tether::spawn([](std::atomic<int>* u) -> Task<void> {
        try {
          co_await tether::sleep(1h);
        } catch (const tether::Cancelled&) {
          u->fetch_add(1);
          throw;
        }
      }(unwound))
          .detach();
    }
    // Wait until all ten sleep: a task cancelled before it ever ran never runs its catch block.
    while (rt->metrics().timers < 10) co_await tether::yield_now();
  }(&rt, &unwound));
  auto report = rt.shutdown(2s);
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(unwound.load(), 10);
  EXPECT_LT(report.took, 1s);
}

// Property: a task that ignores cancellation is reported by name, and shutdown still returns on
// time (after the grace period, not never).
TEST(ShutdownTest, TaskIgnoringCancellationIsReportedAndShutdownReturnsOnTime) {
  tether::test::LogCapture log;
  Runtime rt({.workers = 2, .logger = log.logger});
  rt.block_on([](Runtime* rt) -> Task<void> {
    tether::spawn(
        []() -> Task<void> {
          // Shielded from cancellation, it sleeps on: the stubborn task.
          co_await tether::shield(tether::sleep(1h));
        }(),
        {.name = "stubborn"})
        .detach();
    while (rt->metrics().timers < 1) co_await tether::yield_now();  // it is asleep
  }(&rt));
  auto start = std::chrono::steady_clock::now();
  auto report = rt.shutdown(100ms);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 100ms);
  EXPECT_LT(took, 2s);
  ASSERT_EQ(report.still_alive.size(), 1u);
  EXPECT_EQ(report.still_alive[0].name, "stubborn");
  EXPECT_EQ(report.still_alive[0].waiting_on, "sleep");
  EXPECT_TRUE(log.contains("task(s) still alive"));
  EXPECT_TRUE(log.contains("'stubborn'"));
}

TEST(ShutdownTest, TasksSpawnedAfterShutdownStartCancelled) {
  Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  (void)rt.shutdown(10ms);
  bool ran = false;
  auto h = rt.spawn([](bool* ran) -> Task<void> {
    *ran = true;
    co_return;
  }(&ran));
  EXPECT_THROW(rt.block_on([](tether::JoinHandle<void> h) -> Task<void> { co_await h; }(std::move(h))),
               tether::Cancelled);
  EXPECT_FALSE(ran);
}

// Property: destroying a runtime with suspended tasks destroys their frames (RAII runs), so nothing
// leaks (ASan checks the leak half).
TEST(ShutdownTest, DestroyingRuntimeUnwindsSuspendedTasks) {
  std::atomic<int> destroyed{0};
  {
    Runtime rt({.workers = 2});
    rt.block_on([](Runtime* rt, std::atomic<int>* d) -> Task<void> {
      for (int i = 0; i < 5; ++i) {
        tether::spawn([](std::atomic<int>* d) -> Task<void> {
          struct Mark {
            std::atomic<int>* d;
            ~Mark() { d->fetch_add(1); }
          } m{d};
          co_await tether::shield(tether::sleep(1h));
        }(d))
            .detach();
      }
      while (rt->metrics().timers < 5) co_await tether::yield_now();  // all five are asleep
    }(&rt, &destroyed));
  }
  EXPECT_EQ(destroyed.load(), 5);
}

}  // namespace

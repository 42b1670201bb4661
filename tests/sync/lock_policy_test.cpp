// The lock-across-await detector: a task that suspends while holding a guard is reported with its
// name and the guard's source location (log policy), or aborts (abort policy).
#include "tether/sync/lock_policy.hpp"

#include <gtest/gtest.h>

#include <string>

#include "test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/yield.hpp"
#include "tether/sync/mutex.hpp"
#include "tether/sync/rwlock.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Runtime;
using tether::Task;
using tether::sync::LockAcrossAwaitPolicy;
using tether::sync::Mutex;

struct PolicyScope {
  explicit PolicyScope(LockAcrossAwaitPolicy p) : old(tether::sync::lock_across_await_policy()) {
    tether::sync::set_lock_across_await_policy(p);
  }
  ~PolicyScope() { tether::sync::set_lock_across_await_policy(old); }
  LockAcrossAwaitPolicy old;
};

TEST(LockPolicyTest, DefaultIsAbortInDebugBuilds) {
#ifdef NDEBUG
  GTEST_SKIP() << "release build: the library's default is kLog";
#else
  EXPECT_EQ(tether::sync::lock_across_await_policy(), LockAcrossAwaitPolicy::kAbort);
#endif
}

// Property: sleeping with a guard held is reported, naming the task and the lock() call site.
TEST(LockPolicyTest, SuspendingWithAGuardIsLogged) {
  PolicyScope policy(LockAcrossAwaitPolicy::kLog);
  tether::test::LogCapture cap;
  Runtime rt({.workers = 2, .logger = cap.logger});
  Mutex<int> m(0);
  auto root = [](Mutex<int>* m) -> Task<void> {
    auto h = tether::spawn(
        [](Mutex<int>* m) -> Task<void> {
          auto g = co_await m->lock();  // the reported line
          co_await tether::sleep(1ms);
          co_await tether::yield_now();  // the same guard again: reported once
          ++*g;
        }(m),
        {.name = "holder"});
    co_await h;
  };
  rt.block_on(root(&m));
  EXPECT_TRUE(cap.contains("lock held across await")) << (cap.lines().empty() ? "" : cap.lines().back());
  EXPECT_TRUE(cap.contains("'holder'"));
  EXPECT_TRUE(cap.contains("lock_policy_test.cpp:"));
  EXPECT_TRUE(cap.contains("mutex guard"));
  int reports = 0;
  for (const auto& line : cap.lines()) reports += line.find("lock held across await") != std::string::npos;
  EXPECT_EQ(reports, 1);
}

// Property: waiting for a second lock while holding one is a suspension too (deadlock risk), and
// a guard released before the await is not reported.
TEST(LockPolicyTest, WaitingForAnotherLockWhileHoldingOneIsLogged) {
  PolicyScope policy(LockAcrossAwaitPolicy::kLog);
  tether::test::LogCapture cap;
  Runtime rt({.workers = 2, .logger = cap.logger});
  Mutex<int> a(0);
  tether::sync::RwLock<int> b(0);
  auto held_b = b.try_write();  // taken outside any task: b is busy, so taking it must wait
  auto root = [](Mutex<int>* a, tether::sync::RwLock<int>* b, auto* held_b) -> Task<void> {
    {
      auto g = co_await a->lock();
      g.unlock();
      co_await tether::sleep(1ms);  // released first: fine
    }
    auto h = tether::spawn(
        [](Mutex<int>* a, tether::sync::RwLock<int>* b) -> Task<void> {
          auto ga = co_await a->lock();
          co_await b->read_with([](const int&) {});
        }(a, b),
        {.name = "nested"});
    co_await tether::sleep(5ms);
    (*held_b)->unlock();
    co_await h;
  };
  rt.block_on(root(&a, &b, &held_b));
  int reports = 0;
  for (const auto& line : cap.lines()) {
    if (line.find("lock held across await") == std::string::npos) continue;
    ++reports;
    EXPECT_NE(line.find("'nested'"), std::string::npos) << line;
    // not the task that released its guard before sleeping
  }
  EXPECT_EQ(reports, 1);
}

// Property: with the abort policy (the debug default) the process dies with the report on stderr.
TEST(LockPolicyDeathTest, AbortPolicyAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        tether::sync::set_lock_across_await_policy(LockAcrossAwaitPolicy::kAbort);
        Runtime rt({.workers = 1});
        Mutex<int> m(0);
        auto root = [](Mutex<int>* m) -> Task<void> {
          auto g = co_await m->lock();
          co_await tether::yield_now();
        };
        rt.block_on(root(&m));
      },
      "lock held across await: task .* 'block_on' .*lock_policy_test.cpp:[0-9]+");
}

}  // namespace

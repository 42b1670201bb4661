// JoinSet: completion order, failures, abort on destruction.
#include "tether/task/join_set.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "tether/core/runtime.hpp"
#include "tether/core/yield.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::JoinSet;
using tether::Task;
using tether::testing::VirtualRuntime;

Task<int> after(std::chrono::milliseconds d, int v) {
  co_await tether::sleep(d);
  co_return v;
}

TEST(JoinSetTest, NextYieldsInCompletionOrder) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    JoinSet<int> set;
    set.spawn(after(30ms, 3));
    set.spawn(after(10ms, 1));
    set.spawn(after(20ms, 2));
    std::vector<int> got;
    while (auto v = co_await set.next()) got.push_back(*v);
    EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
    EXPECT_TRUE(set.empty());
  }());
}

TEST(JoinSetTest, FailureIsRethrownAndTheRestContinue) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    JoinSet<int> set;
    set.spawn([]() -> Task<int> {
      co_await tether::sleep(5ms);
      throw std::runtime_error("bad");
    }());
    set.spawn(after(10ms, 7));
    EXPECT_THROW(co_await set.next(), std::runtime_error);
    EXPECT_EQ(co_await set.next(), 7);
    EXPECT_EQ(co_await set.next(), std::nullopt);
  }());
}

// Property: destroying the set aborts the tasks still in it.
TEST(JoinSetTest, DestructionAbortsRemainingTasks) {
  tether::Runtime rt({.workers = 2});
  std::atomic<int> cancelled{0};
  rt.block_on([](tether::Runtime* rt, std::atomic<int>* cancelled) -> Task<void> {
    {
      JoinSet<void> set;
      for (int i = 0; i < 5; ++i) {
        set.spawn([](std::atomic<int>* c) -> Task<void> {
          try {
            co_await tether::sleep(1h);
          } catch (const tether::Cancelled&) {
            c->fetch_add(1);
            throw;
          }
        }(cancelled));
      }
      // All five asleep: a task aborted before it ever ran would never reach its catch block.
      while (rt->metrics().timers < 5) co_await tether::yield_now();
    }
    while (cancelled->load() < 5) co_await tether::sleep(1ms);
  }(&rt, &cancelled));
  EXPECT_EQ(cancelled.load(), 5);
}

TEST(JoinSetTest, AbortAllThenDrainGivesCancelled) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    JoinSet<int> set;
    set.spawn(after(1h, 1));
    set.spawn(after(1h, 2));
    set.abort_all();
    int cancelled = 0;
    while (!set.empty()) {
      try {
        (void)co_await set.next();
      } catch (const tether::Cancelled&) {
        ++cancelled;
      }
    }
    EXPECT_EQ(cancelled, 2);
  }());
}

}  // namespace

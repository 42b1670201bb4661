// select(): the first awaitable to complete wins, the rest are cancelled and unwound.
#include "tether/core/select.hpp"

#include <gtest/gtest.h>

#include <atomic>

#include "test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Task;
using tether::testing::VirtualRuntime;

Task<int> after(std::chrono::milliseconds d, int v) {
  co_await tether::sleep(d);
  co_return v;
}

TEST(SelectTest, FirstToCompleteWinsWithItsValue) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto r = co_await tether::select(after(30ms, 1), after(10ms, 2), after(20ms, 3));
    EXPECT_EQ(r.index(), 1u);
    EXPECT_EQ(std::get<1>(r), 2);
    EXPECT_EQ(tether::Clock::now().time_since_epoch(), 10ms);  // did not wait for the losers' sleeps
  }());
}

// Property: the losers are cancelled and have finished unwinding when select returns.
TEST(SelectTest, LosersAreCancelledBeforeSelectReturns) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    int unwound = 0;
    auto loser = [](int* unwound) -> Task<int> {
      struct Mark {
        int* u;
        ~Mark() { ++*u; }
      } m{unwound};
      co_await tether::sleep(1h);
      co_return 0;
    };
    auto r = co_await tether::select(loser(&unwound), after(1ms, 7), loser(&unwound));
    EXPECT_EQ(r.index(), 1u);
    EXPECT_EQ(unwound, 2);
  }());
}

TEST(SelectTest, SleepAgainstJoinHandle) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto h = tether::spawn(after(50ms, 5));
    auto r = co_await tether::select(std::move(h), tether::sleep(10ms));
    EXPECT_EQ(r.index(), 1u);  // the sleep won; std::monostate for a void awaitable
    EXPECT_TRUE(std::holds_alternative<std::monostate>(r));
  }());
}

TEST(SelectTest, WinnersExceptionIsRethrown) {
  VirtualRuntime rt;
  auto failing = []() -> Task<int> {
    co_await tether::sleep(1ms);
    throw std::runtime_error("branch failed");
  };
  rt.block_on([](auto failing) -> Task<void> {
    EXPECT_THROW(co_await tether::select(failing(), after(1h, 0)), std::runtime_error);
  }(failing));
}

// Property: cancelling the task that selects cancels every branch and throws Cancelled.
TEST(SelectTest, CancellingTheSelectorCancelsAllBranches) {
  tether::Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    auto h = tether::spawn([]() -> Task<void> { (void)co_await tether::select(after(1h, 1), after(2h, 2)); }());
    co_await tether::sleep(2ms);
    h.abort();
    EXPECT_THROW(co_await h, tether::Cancelled);
  }());
}

// Property: repeated selects on a multi-threaded runtime leave no task or timer behind.
TEST(SelectTest, RepeatedSelectsLeaveNothingBehind) {
  tether::Runtime rt({.workers = 2});
  const int n = static_cast<int>(tether::test::scaled(20'000));
  rt.block_on([](int n) -> Task<void> {
    int zero = 0, one = 0;
    for (int i = 0; i < n; ++i) {
      auto r = co_await tether::select(after(0ms, 0), after(1h, 1));
      (r.index() == 0 ? zero : one)++;
    }
    EXPECT_EQ(zero, n);
  }(n));
  auto m = rt.metrics();
  EXPECT_EQ(m.tasks_alive, 0u);
  EXPECT_EQ(m.timers, 0u);
}

}  // namespace

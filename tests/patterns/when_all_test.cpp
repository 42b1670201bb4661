// when_all / when_any: concurrent, structured, first failure cancels the siblings.
#include "tether/patterns/when_all.hpp"

#include <gtest/gtest.h>

#include "channel/co_assert.hpp"

#include <stdexcept>
#include <string>

#include "tether/channel/mpsc.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/clock.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Task;
using tether::testing::VirtualRuntime;

std::chrono::milliseconds now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(tether::Clock::now().time_since_epoch());
}

Task<int> after(std::chrono::milliseconds d, int v) {
  co_await tether::sleep(d);
  co_return v;
}

Task<void> fail_after(std::chrono::milliseconds d, std::string what) {
  co_await tether::sleep(d);
  throw std::runtime_error(what);
}

Task<std::string> text_after(std::chrono::milliseconds d, std::string v) {
  co_await tether::sleep(d);
  co_return v;
}

// Records whether it was cancelled while sleeping.
Task<int> sleeper(std::chrono::milliseconds d, int* cancelled) {
  try {
    co_await tether::sleep(d);
  } catch (const tether::Cancelled&) {
    ++*cancelled;
    throw;
  }
  co_return 0;
}

// Property: the operations run concurrently (total time is the longest, not the sum) and the tuple
// keeps argument order.
TEST(WhenAllTest, RunsConcurrentlyAndKeepsArgumentOrder) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [a, b, c] = co_await tether::when_all(after(30ms, 1), text_after(10ms, "two"), tether::sleep(20ms));
    EXPECT_EQ(a, 1);
    EXPECT_EQ(b, "two");
    (void)c;
    EXPECT_EQ(now_ms(), 30ms);
  }());
}

// Property: the first failure cancels the siblings (they unwind before the call returns) and is
// rethrown to the caller.
TEST(WhenAllTest, FirstFailureCancelsSiblings) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    int cancelled = 0;
    bool threw = false;
    try {
      co_await tether::when_all(sleeper(1h, &cancelled), fail_after(5ms, "boom"), sleeper(1h, &cancelled));
    } catch (const std::runtime_error& e) {
      threw = std::string(e.what()) == "boom";
    }
    EXPECT_TRUE(threw);
    EXPECT_EQ(cancelled, 2);
    EXPECT_EQ(now_ms(), 5ms);
  }());
}

TEST(WhenAllTest, VectorFormReturnsInputOrder) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 5; ++i) tasks.push_back(after(std::chrono::milliseconds(50 - i * 10), i));
    auto values = co_await tether::when_all(std::move(tasks));
    EXPECT_EQ(values, (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_EQ(now_ms(), 50ms);
  }());
}

TEST(WhenAllTest, VectorOfVoidTasksFailsWithTheFirstFailure) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    std::vector<Task<void>> tasks;
    tasks.push_back(fail_after(20ms, "late"));
    tasks.push_back(fail_after(10ms, "early"));
    std::string what;
    try {
      co_await tether::when_all(std::move(tasks));
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    EXPECT_EQ(what, "early");
    EXPECT_EQ(now_ms(), 10ms);
  }());
}

// Property: the first to finish wins; the losers are cancelled and have unwound on return.
TEST(WhenAnyTest, FirstToFinishWinsOthersCancelled) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    int cancelled = 0;
    std::vector<Task<int>> tasks;
    tasks.push_back(sleeper(1h, &cancelled));
    tasks.push_back(after(7ms, 42));
    tasks.push_back(sleeper(1h, &cancelled));
    auto r = co_await tether::when_any(std::move(tasks));
    EXPECT_EQ(r.index, 1u);
    EXPECT_EQ(r.value, 42);
    EXPECT_EQ(cancelled, 2);
    EXPECT_EQ(now_ms(), 7ms);
  }());
}

TEST(WhenAnyTest, WinnerFailureIsRethrown) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    std::vector<Task<void>> tasks;
    tasks.push_back(fail_after(3ms, "first"));
    tasks.push_back(fail_after(9ms, "second"));
    std::string what;
    try {
      co_await tether::when_any(std::move(tasks));
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    EXPECT_EQ(what, "first");
  }());
}

// Property: the variadic form is select(): a losing channel recv leaves its message in the channel.
TEST(WhenAnyTest, VariadicLosingRecvLosesNothing) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::mpsc::channel<int>(4);
    auto r = co_await tether::when_any(rx.recv(), tether::sleep(5ms));
    EXPECT_EQ(r.index(), 1u);
    (void)co_await tx.send(9);
    auto v = co_await rx.recv();
    CO_ASSERT_TRUE(v.has_value());
    EXPECT_EQ(*v, 9);
  }());
}

TEST(WhenAnyTest, EmptyVectorIsAnError) {
  VirtualRuntime rt;
  EXPECT_THROW(rt.block_on(tether::when_any(std::vector<Task<int>>{})), tether::Error);
}

}  // namespace

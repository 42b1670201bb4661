// timeout / timeout_at: which timeout fires, what the caller sees, and what survives.
#include "tether/time/timeout.hpp"

#include <gtest/gtest.h>

#include "tether/core/runtime.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Clock;
using tether::Task;
using tether::TimedOut;
using tether::testing::VirtualRuntime;

Task<int> slow(std::chrono::milliseconds d, int v) {
  co_await tether::sleep(d);
  co_return v;
}

TEST(TimeoutTest, CompletesInTimeWithValue) {
  VirtualRuntime rt;
  EXPECT_EQ(rt.block_on(tether::timeout(100ms, slow(10ms, 5), "slow")), 5);
}

// Property: a one-hour timeout fires at exactly one hour, names what timed out, and runs in
// milliseconds of real time.
TEST(TimeoutTest, FiresAtTheDeadlineAndNamesTheOperation) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto start = Clock::now();
    try {
      co_await tether::timeout(1h, slow(2h, 1), "fetch user 42");
      ADD_FAILURE() << "expected TimedOut";
    } catch (const TimedOut& e) {
      EXPECT_STREQ(e.what(), "timed out: fetch user 42");
    }
    EXPECT_EQ(Clock::now() - start, 1h);
  }());
}

// Property: in nested timeouts, the one whose deadline passes first is the one reported.
TEST(TimeoutTest, TimeoutInsideTimeoutFiresTheRightOne) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    try {  // inner is shorter: inner reports
      co_await tether::timeout(1s, tether::timeout(10ms, slow(1h, 0), "inner"), "outer");
      ADD_FAILURE();
    } catch (const TimedOut& e) {
      EXPECT_STREQ(e.what(), "timed out: inner");
    }
    try {  // outer is shorter: outer reports, the inner sees only a cancellation
      co_await tether::timeout(10ms, tether::timeout(1s, slow(1h, 0), "inner"), "outer");
      ADD_FAILURE();
    } catch (const TimedOut& e) {
      EXPECT_STREQ(e.what(), "timed out: outer");
    }
  }());
}

// Property: a timeout cancels only the operation; the task carries on and can sleep again.
TEST(TimeoutTest, OnlyTheOperationIsCancelled) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    EXPECT_THROW(co_await tether::timeout(5ms, slow(1s, 0)), TimedOut);
    co_await tether::sleep(1ms);  // would throw Cancelled if the task itself were cancelled
    EXPECT_EQ(co_await tether::timeout(1s, slow(1ms, 9)), 9);
  }());
}

// Property: when the task itself is cancelled, the caller sees Cancelled, not TimedOut.
TEST(TimeoutTest, OuterCancellationIsNotReportedAsTimeout) {
  tether::Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    auto h = tether::spawn([]() -> Task<void> { co_await tether::timeout(1h, slow(2h, 0)); }());
    co_await tether::sleep(2ms);
    h.abort();
    EXPECT_THROW(co_await h, tether::Cancelled);
  }());
}

TEST(TimeoutTest, ExpiredDeadlineStillLetsAReadyOperationComplete) {
  VirtualRuntime rt;
  auto ready = []() -> Task<int> { co_return 3; };
  EXPECT_EQ(rt.block_on(tether::timeout_at(tether::Deadline::after(0ms), ready())), 3);
}

TEST(TimeoutTest, WorksOnJoinHandles) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto h = tether::spawn(slow(1h, 1));
    EXPECT_THROW(co_await tether::timeout(1s, std::move(h), "join"), TimedOut);
  }());
}

}  // namespace

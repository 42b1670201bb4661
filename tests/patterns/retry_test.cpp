// retry(): exact backoff timestamps, jitter reproducible from the seed, attempts and budget
// bounded, retryable predicate, cancellation stops at once (even mid-backoff).
#include "tether/patterns/retry.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "channel/co_assert.hpp"
#include "tether/core/spawn.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/clock.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::RetryPolicy;
using tether::Task;
using tether::testing::VirtualRuntime;

std::chrono::milliseconds now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(tether::Clock::now().time_since_epoch());
}

// Fails until its `succeed_on`-th call; records when each call started.
struct Flaky {
  int succeed_on = 1000;
  std::vector<std::chrono::milliseconds> calls{};
  Task<int> operator()() {
    calls.push_back(now_ms());
    if (static_cast<int>(calls.size()) < succeed_on) throw std::runtime_error("flaky");
    co_return static_cast<int>(calls.size());
  }
};

// Property: without jitter the attempts start at exactly 0, 100, 300, 700 ms (100 × 2^k, capped).
TEST(RetryTest, ExponentialBackoffAtExactTimestamps) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    Flaky f{.succeed_on = 5};
    RetryPolicy policy{.max_attempts = 5, .initial_delay = 100ms, .multiplier = 2.0, .max_delay = 500ms, .jitter = 0};
    int r = co_await tether::retry([&f] { return f(); }, policy);
    EXPECT_EQ(r, 5);
    std::vector<std::chrono::milliseconds> want{0ms, 100ms, 300ms, 700ms, 1200ms};  // last delay capped at 500
    EXPECT_EQ(f.calls, want);
  }());
}

// Property: with jitter, the delays are those of Backoff with the same seed, within the jitter band.
TEST(RetryTest, SeededJitterIsReproducible) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    RetryPolicy policy{.max_attempts = 6, .initial_delay = 100ms, .jitter = 0.5, .seed = 42};
    tether::Backoff expected(policy);
    std::vector<std::chrono::milliseconds> want{0ms};
    double base = 100;
    for (int k = 0; k < 5; ++k) {
      auto d = expected.next();
      EXPECT_GE(d.count(), static_cast<long>(base * 0.5) - 1);
      EXPECT_LE(d.count(), static_cast<long>(base * 1.5) + 1);
      want.push_back(want.back() + d);
      base *= 2;
    }
    Flaky f;
    std::vector<tether::RetryEvent> events;
    policy.on_retry = [&events](const tether::RetryEvent& e) { events.push_back(e); };
    EXPECT_THROW(co_await tether::retry([&f] { return f(); }, policy), std::runtime_error);
    EXPECT_EQ(f.calls, want);
    CO_ASSERT_TRUE(events.size() == 5u);
    EXPECT_EQ(events[0].attempt, 1u);
    EXPECT_EQ(events[0].delay, want[1]);
  }());
}

// Property: a failure the predicate rejects is rethrown at once, without retrying.
TEST(RetryTest, NonRetryableFailureStopsAtOnce) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    int calls = 0;
    RetryPolicy policy{.max_attempts = 5, .retryable = [](const std::exception_ptr& e) {
                         try {
                           std::rethrow_exception(e);
                         } catch (const std::invalid_argument&) {
                           return false;
                         } catch (...) {
                           return true;
                         }
                       }};
    EXPECT_THROW(co_await tether::retry(
                     [&calls]() -> Task<void> {
                       ++calls;
                       throw std::invalid_argument("bad request");
                     },
                     policy),
                 std::invalid_argument);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(now_ms(), 0ms);
  }());
}

// Property: the overall budget bounds the whole call: an attempt still running when it runs out is
// cancelled with TimedOut, and no backoff that would end past it is started.
TEST(RetryTest, BudgetBoundsTheWholeCall) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    RetryPolicy policy{.max_attempts = 100, .initial_delay = 100ms, .jitter = 0, .max_elapsed = 1s};
    Flaky f;
    EXPECT_THROW(co_await tether::retry([&f] { return f(); }, policy), std::runtime_error);
    // 0, 100, 300, 700; the next delay (800 ms) would end at 1500 > 1000.
    EXPECT_EQ(f.calls, (std::vector<std::chrono::milliseconds>{0ms, 100ms, 300ms, 700ms}));
    EXPECT_EQ(now_ms(), 700ms);

    auto start = now_ms();
    EXPECT_THROW(
        co_await tether::retry([]() -> Task<void> { co_await tether::sleep(1h); }, RetryPolicy{.max_elapsed = 250ms}),
        tether::TimedOut);
    EXPECT_EQ(now_ms() - start, 250ms);
  }());
}

// Property: cancelling the caller in the middle of a backoff stops retry() at once.
TEST(RetryTest, CancellationStopsMidBackoff) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    Flaky f;
    auto h = tether::spawn(
        tether::retry([&f] { return f(); }, RetryPolicy{.max_attempts = 10, .initial_delay = 1s, .jitter = 0}));
    co_await tether::sleep(1500ms);  // first backoff done, second attempt failed, in the 2 s backoff
    h.abort();
    EXPECT_THROW(co_await h, tether::Cancelled);
    EXPECT_EQ(now_ms(), 1500ms);
    EXPECT_EQ(f.calls.size(), 2u);
    co_await tether::sleep(1h);
    EXPECT_EQ(f.calls.size(), 2u);  // no attempt after the cancellation
  }());
}

TEST(RetryTest, SucceedsFirstTimeWithDefaultPolicy) {
  VirtualRuntime rt;
  int r = rt.block_on(tether::retry([]() -> Task<int> { co_return 7; }));
  EXPECT_EQ(r, 7);
  EXPECT_THROW(rt.block_on(tether::retry([]() -> Task<int> { co_return 7; }, RetryPolicy{.max_attempts = 0})),
               tether::Error);
}

}  // namespace

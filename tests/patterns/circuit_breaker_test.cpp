// CircuitBreaker: transitions at the thresholds, fail-fast while open, exact trial calls in
// half-open, logging and counting, thread safety on two workers.
#include "tether/patterns/circuit_breaker.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include "channel/co_assert.hpp"
#include "test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/patterns/when_all.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::CircuitBreaker;
using tether::CircuitState;
using tether::Task;
using tether::testing::VirtualRuntime;

Task<int> ok_call(std::chrono::milliseconds d = 0ms) {
  if (d.count() > 0) co_await tether::sleep(d);
  co_return 1;
}
Task<int> failing_call() {
  co_await tether::sleep(1ms);
  throw std::runtime_error("service down");
}

// Runs one call through the breaker; returns "ok", "failed" or "open".
Task<std::string> attempt(CircuitBreaker& b, bool fail, std::chrono::milliseconds d = 0ms) {
  try {
    if (fail) {
      co_await b.call([] { return failing_call(); });
    } else {
      co_await b.call([d] { return ok_call(d); });
    }
    co_return "ok";
  } catch (const tether::CircuitOpen&) {
    co_return "open";
  } catch (const std::runtime_error&) {
    co_return "failed";
  }
}

// Property: with a count window of 10, minimum 4 calls and a 50% threshold, the breaker stays
// closed below the minimum and below the threshold, and opens on the call that reaches it.
TEST(CircuitBreakerTest, OpensExactlyAtTheFailureThreshold) {
  VirtualRuntime rt;
  tether::test::LogCapture log;
  CircuitBreaker b({.name = "inventory",
                    .window_size = 10,
                    .minimum_calls = 4,
                    .failure_rate_threshold = 0.5,
                    .open_duration = 10s,
                    .logger = log.logger});
  rt.block_on([](CircuitBreaker& b) -> Task<void> {
    // 3 failures: 100% but below the minimum of 4 calls.
    for (int i = 0; i < 3; ++i) EXPECT_EQ(co_await attempt(b, true), "failed");
    EXPECT_EQ(b.state(), CircuitState::kClosed);
    // The 4th call (a success) reaches the minimum: 3 of 4 failed, 75% >= 50%.
    EXPECT_EQ(co_await attempt(b, false), "ok");
    EXPECT_EQ(b.state(), CircuitState::kOpen);
  }(b));
  auto m = b.metrics();
  EXPECT_EQ(m.opened, 1u);
  EXPECT_EQ(m.failed_calls, 3u);
  EXPECT_EQ(m.successful_calls, 1u);
  EXPECT_TRUE(log.contains("circuit breaker 'inventory': closed -> open"));
}

TEST(CircuitBreakerTest, StaysClosedBelowTheThreshold) {
  VirtualRuntime rt;
  CircuitBreaker b({.window_size = 10, .minimum_calls = 10, .failure_rate_threshold = 0.5});
  rt.block_on([](CircuitBreaker& b) -> Task<void> {
    // 4 failures in 10 calls: 40% < 50%.
    for (int i = 0; i < 10; ++i) EXPECT_EQ(co_await attempt(b, i % 5 < 2), i % 5 < 2 ? "failed" : "ok");
    EXPECT_EQ(b.state(), CircuitState::kClosed);
    EXPECT_DOUBLE_EQ(b.metrics().failure_rate, 0.4);
    // Window (oldest first): F F o o o F F o o o.
    EXPECT_EQ(co_await attempt(b, true), "failed");  // evicts F: still 4/10
    EXPECT_EQ(b.state(), CircuitState::kClosed);
    EXPECT_EQ(co_await attempt(b, true), "failed");  // evicts F: still 4/10
    EXPECT_EQ(b.state(), CircuitState::kClosed);
    EXPECT_EQ(co_await attempt(b, true), "failed");  // evicts o: 5/10 reaches 50%
    EXPECT_EQ(b.state(), CircuitState::kOpen);
  }(b));
}

// Property: an open breaker fails fast with CircuitOpen and never calls the operation; after the
// open duration it admits exactly `half_open_calls` trial calls, and successful trials close it.
TEST(CircuitBreakerTest, OpenFailsFastThenHalfOpenAdmitsExactlyTheTrialCalls) {
  VirtualRuntime rt;
  CircuitBreaker b(
      {.window_size = 4, .minimum_calls = 2, .failure_rate_threshold = 0.5, .open_duration = 5s, .half_open_calls = 3});
  rt.block_on([](CircuitBreaker& b) -> Task<void> {
    EXPECT_EQ(co_await attempt(b, true), "failed");
    EXPECT_EQ(co_await attempt(b, true), "failed");
    CO_ASSERT_TRUE(b.state() == CircuitState::kOpen);
    int invoked = 0;
    bool rejected = false;
    try {
      co_await b.call([&invoked]() -> Task<int> {
        ++invoked;
        co_return 1;
      });
    } catch (const tether::CircuitOpen& e) {
      rejected = true;
      EXPECT_EQ(e.breaker(), "circuit");
      EXPECT_GT(e.retry_after(), 4900ms);
    }
    EXPECT_TRUE(rejected);
    EXPECT_EQ(invoked, 0);
    co_await tether::sleep(4999ms);
    EXPECT_EQ(b.state(), CircuitState::kOpen);
    co_await tether::sleep(1ms);
    EXPECT_EQ(b.state(), CircuitState::kHalfOpen);
    // Five concurrent callers, each call takes 100 ms: exactly three are admitted.
    std::vector<Task<std::string>> calls;
    for (int i = 0; i < 5; ++i) calls.push_back(attempt(b, false, 100ms));
    auto results = co_await tether::when_all(std::move(calls));
    int ok = 0, open = 0;
    for (auto& r : results) (r == "ok" ? ok : open)++;
    EXPECT_EQ(ok, 3);
    EXPECT_EQ(open, 2);
    EXPECT_EQ(b.state(), CircuitState::kClosed);
  }(b));
  auto m = b.metrics();
  EXPECT_EQ(m.opened, 1u);
  EXPECT_EQ(m.half_opened, 1u);
  EXPECT_EQ(m.closed, 1u);
  EXPECT_EQ(m.rejected_calls, 3u);
}

// Property: a failing trial call reopens the breaker for another open duration.
TEST(CircuitBreakerTest, FailedTrialReopens) {
  VirtualRuntime rt;
  std::vector<std::pair<CircuitState, CircuitState>> changes;
  CircuitBreaker b({.window_size = 2,
                    .minimum_calls = 2,
                    .failure_rate_threshold = 0.5,
                    .open_duration = 1s,
                    .half_open_calls = 1,
                    .on_state_change = [&changes](CircuitState f, CircuitState t) { changes.emplace_back(f, t); }});
  rt.block_on([](CircuitBreaker& b) -> Task<void> {
    (void)co_await attempt(b, true);
    (void)co_await attempt(b, true);
    co_await tether::sleep(1s);
    EXPECT_EQ(co_await attempt(b, true), "failed");  // the single trial
    EXPECT_EQ(b.state(), CircuitState::kOpen);
    EXPECT_EQ(co_await attempt(b, false), "open");
    co_await tether::sleep(1s);
    EXPECT_EQ(co_await attempt(b, false), "ok");
    EXPECT_EQ(b.state(), CircuitState::kClosed);
  }(b));
  using S = CircuitState;
  std::vector<std::pair<S, S>> want{{S::kClosed, S::kOpen},
                                    {S::kOpen, S::kHalfOpen},
                                    {S::kHalfOpen, S::kOpen},
                                    {S::kOpen, S::kHalfOpen},
                                    {S::kHalfOpen, S::kClosed}};
  EXPECT_EQ(changes, want);
}

// Property: slow calls trip the breaker on the slow-call rate even though they all succeed.
TEST(CircuitBreakerTest, OpensOnSlowCallRate) {
  VirtualRuntime rt;
  CircuitBreaker b(
      {.window_size = 5, .minimum_calls = 5, .slow_call_rate_threshold = 0.6, .slow_call_duration = 200ms});
  rt.block_on([](CircuitBreaker& b) -> Task<void> {
    EXPECT_EQ(co_await attempt(b, false, 250ms), "ok");
    EXPECT_EQ(co_await attempt(b, false, 10ms), "ok");
    EXPECT_EQ(co_await attempt(b, false, 200ms), "ok");  // exactly the bound: slow
    EXPECT_EQ(co_await attempt(b, false, 199ms), "ok");
    EXPECT_EQ(b.state(), CircuitState::kClosed);
    EXPECT_EQ(co_await attempt(b, false, 300ms), "ok");  // 3/5 = 60%
    EXPECT_EQ(b.state(), CircuitState::kOpen);
  }(b));
  EXPECT_EQ(b.metrics().slow_calls, 3u);
  EXPECT_EQ(b.metrics().failed_calls, 0u);
}

// Property: a time-based window forgets calls older than its duration.
TEST(CircuitBreakerTest, TimeWindowForgetsOldCalls) {
  VirtualRuntime rt;
  CircuitBreaker b(
      {.window = tether::WindowKind::kTime, .window_duration = 10s, .minimum_calls = 3, .failure_rate_threshold = 0.5});
  rt.block_on([](CircuitBreaker& b) -> Task<void> {
    (void)co_await attempt(b, true);
    (void)co_await attempt(b, true);
    co_await tether::sleep(11s);  // both failures leave the window
    (void)co_await attempt(b, true);
    (void)co_await attempt(b, false);
    EXPECT_EQ(b.metrics().window_calls, 2u);
    EXPECT_EQ(b.state(), CircuitState::kClosed);  // below the minimum again
    (void)co_await attempt(b, false);             // 1 of 3
    EXPECT_EQ(b.state(), CircuitState::kClosed);
    (void)co_await attempt(b, true);  // 2 of 4
    EXPECT_EQ(b.state(), CircuitState::kOpen);
  }(b));
}

// Property: exceptions the predicate does not count are recorded as successes; Cancelled is not
// recorded at all.
TEST(CircuitBreakerTest, PredicateAndCancellationAreNotFailures) {
  VirtualRuntime rt;
  CircuitBreaker b({.window_size = 2,
                    .minimum_calls = 2,
                    .failure_rate_threshold = 0.5,
                    .is_failure = [](const std::exception_ptr& e) {
                      try {
                        std::rethrow_exception(e);
                      } catch (const std::invalid_argument&) {
                        return false;  // the caller's mistake, not the service's
                      } catch (...) {
                        return true;
                      }
                    }});
  rt.block_on([](CircuitBreaker& b) -> Task<void> {
    for (int i = 0; i < 3; ++i) {
      EXPECT_THROW(co_await b.call([]() -> Task<void> { throw std::invalid_argument("bad sku"); }),
                   std::invalid_argument);
    }
    auto h = tether::spawn(b.call([]() -> Task<void> { co_await tether::sleep(1h); }));
    co_await tether::sleep(1ms);
    h.abort();
    EXPECT_THROW(co_await h, tether::Cancelled);
    EXPECT_EQ(b.state(), CircuitState::kClosed);
  }(b));
  auto m = b.metrics();
  EXPECT_EQ(m.successful_calls, 3u);
  EXPECT_EQ(m.failed_calls, 0u);
}

// Property: many tasks on two workers calling through one breaker: every call is accounted for
// exactly once, and the breaker ends in a valid state (run under TSan for data races).
TEST(CircuitBreakerTest, ConcurrentCallersOnTwoWorkers) {
  tether::Runtime rt({.workers = 2});
  tether::test::LogCapture log;  // keeps the many transitions out of the test output
  CircuitBreaker b({.window_size = 20,
                    .minimum_calls = 10,
                    .failure_rate_threshold = 0.3,
                    .open_duration = 2ms,
                    .half_open_calls = 2,
                    .logger = log.logger});
  const int tasks = 8;
  const int per_task = static_cast<int>(tether::test::scaled(500));
  std::atomic<int> ok{0}, failed{0}, open{0};
  rt.block_on([](CircuitBreaker* b, int tasks, int per_task, std::atomic<int>* ok, std::atomic<int>* failed,
                 std::atomic<int>* open) -> Task<void> {
    std::vector<Task<void>> workers;
    for (int t = 0; t < tasks; ++t) {
      workers.push_back([](CircuitBreaker* b, int t, int n, std::atomic<int>* ok, std::atomic<int>* failed,
                           std::atomic<int>* open) -> Task<void> {
        for (int i = 0; i < n; ++i) {
          bool fail = (i + t) % 4 == 0;
          try {
            co_await b->call([fail]() -> Task<void> {
              if (fail) throw std::runtime_error("x");
              co_return;
            });
            ok->fetch_add(1);
          } catch (const tether::CircuitOpen&) {
            open->fetch_add(1);
          } catch (const std::runtime_error&) {
            failed->fetch_add(1);
          }
          if (i % 16 == 0) co_await tether::sleep(1ms);
        }
      }(b, t, per_task, ok, failed, open));
    }
    co_await tether::when_all(std::move(workers));
  }(&b, tasks, per_task, &ok, &failed, &open));
  auto m = b.metrics();
  EXPECT_EQ(ok + failed + open, tasks * per_task);
  EXPECT_EQ(m.successful_calls, static_cast<std::uint64_t>(ok.load()));
  EXPECT_EQ(m.failed_calls, static_cast<std::uint64_t>(failed.load()));
  EXPECT_EQ(m.rejected_calls, static_cast<std::uint64_t>(open.load()));
  EXPECT_GE(m.opened, 1u);
}

TEST(CircuitBreakerTest, InvalidOptionsAreRejected) {
  EXPECT_THROW(CircuitBreaker({.half_open_calls = 0}), tether::Error);
  EXPECT_THROW(CircuitBreaker({.failure_rate_threshold = 0}), tether::Error);
  static_assert(!std::is_copy_constructible_v<CircuitBreaker>);
  static_assert(std::is_base_of_v<tether::Error, tether::CircuitOpen>);
}

}  // namespace

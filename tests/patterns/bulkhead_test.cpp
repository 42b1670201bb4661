// Bulkhead: concurrency limit, bounded waiting queue, named rejections.
#include "tether/patterns/bulkhead.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "tether/patterns/when_all.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/clock.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Bulkhead;
using tether::BulkheadRejected;
using tether::Task;
using tether::testing::VirtualRuntime;

std::chrono::milliseconds now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(tether::Clock::now().time_since_epoch());
}

// One call through the bulkhead that takes 100 ms; returns 0 on success, else 1 + the reason.
Task<int> call(Bulkhead* b, int* running, int* max_running) {
  auto r = co_await b->run([&]() -> Task<void> {
    *max_running = std::max(*max_running, ++*running);
    co_await tether::sleep(100ms);
    --*running;
  });
  if (r) co_return 0;
  EXPECT_EQ(r.error().bulkhead, "payments");
  co_return 1 + static_cast<int>(r.error().reason);
}

// Property: 2 run, 3 wait, the rest are turned away at once with kQueueFull; the waiters run in
// turn; never more than 2 at a time.
TEST(BulkheadTest, LimitsConcurrencyAndRejectsPastTheQueue) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    Bulkhead b({.name = "payments", .max_concurrent = 2, .max_waiting = 3});
    int running = 0, max_running = 0;
    std::vector<Task<int>> calls;
    for (int i = 0; i < 8; ++i) calls.push_back(call(&b, &running, &max_running));
    auto results = co_await tether::when_all(std::move(calls));
    int ok = 0, full = 0;
    for (int r : results) {
      ok += r == 0;
      full += r == 1 + static_cast<int>(BulkheadRejected::Reason::kQueueFull);
    }
    EXPECT_EQ(ok, 5);
    EXPECT_EQ(full, 3);
    EXPECT_EQ(max_running, 2);
    EXPECT_EQ(now_ms(), 300ms);  // 5 calls, 2 at a time, 100 ms each
    auto m = b.metrics();
    EXPECT_EQ(m.admitted, 5u);
    EXPECT_EQ(m.rejected_queue_full, 3u);
    EXPECT_EQ(m.running, 0u);
    EXPECT_EQ(m.waiting, 0u);
  }());
}

// Property: a waiter that cannot get a slot within max_wait is rejected with kTimedOut.
TEST(BulkheadTest, WaitIsBoundedByMaxWait) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    Bulkhead b({.name = "payments", .max_concurrent = 1, .max_waiting = 5, .max_wait = 150ms});
    int running = 0, max_running = 0;
    std::vector<Task<int>> calls;
    for (int i = 0; i < 3; ++i) calls.push_back(call(&b, &running, &max_running));
    auto results = co_await tether::when_all(std::move(calls));
    std::sort(results.begin(), results.end());
    // first runs 0-100, second 100-200, third would start at 200 > 150: timed out
    EXPECT_EQ(results, (std::vector<int>{0, 0, 1 + static_cast<int>(BulkheadRejected::Reason::kTimedOut)}));
    EXPECT_EQ(b.metrics().rejected_timed_out, 1u);
  }());
}

TEST(BulkheadTest, TryAcquireNeverWaits) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    Bulkhead b({.max_concurrent = 1});
    auto p = b.try_acquire();
    EXPECT_TRUE(p.has_value());
    EXPECT_FALSE(b.try_acquire().has_value());
    auto r = co_await b.acquire();  // max_waiting 0: rejected at once
    EXPECT_FALSE(r.has_value());
    p.reset();
    auto r2 = co_await b.acquire();
    EXPECT_TRUE(r2.has_value());
    co_return;
  }());
  EXPECT_THROW(Bulkhead({.max_concurrent = 0}), tether::Error);
}

}  // namespace

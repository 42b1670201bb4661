// RateLimiter: exact grant times under virtual time, bursts, try_acquire, cancellation safety.
#include "tether/patterns/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "tether/core/spawn.hpp"
#include "tether/patterns/when_all.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/clock.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::RateLimiter;
using tether::Task;
using tether::testing::VirtualRuntime;

std::chrono::milliseconds now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(tether::Clock::now().time_since_epoch());
}

// Property: 10 per second with a burst of 3: three at once, then one every 100 ms, exactly.
TEST(RateLimiterTest, BurstThenSteadyRate) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    RateLimiter limit({.name = "api", .rate = 10, .per = 1s, .burst = 3});
    std::vector<std::chrono::milliseconds> grants;
    for (int i = 0; i < 8; ++i) {
      co_await limit.acquire();
      grants.push_back(now_ms());
    }
    std::vector<std::chrono::milliseconds> want{0ms, 0ms, 0ms, 100ms, 200ms, 300ms, 400ms, 500ms};
    EXPECT_EQ(grants, want);
    auto m = limit.metrics();
    EXPECT_EQ(m.granted, 8u);
    EXPECT_EQ(m.waits, 5u);
  }());
}

// Property: concurrent acquirers share the rate: 20 tasks at 50/s with burst 1 take 380 ms.
TEST(RateLimiterTest, ConcurrentAcquirersKeepTheRate) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    RateLimiter limit({.rate = 50, .per = 1s, .burst = 1});
    std::vector<std::chrono::milliseconds> grants;
    std::vector<Task<void>> tasks;
    for (int i = 0; i < 20; ++i) {
      tasks.push_back([](RateLimiter* l, std::vector<std::chrono::milliseconds>* g) -> Task<void> {
        co_await l->acquire();
        g->push_back(now_ms());
      }(&limit, &grants));
    }
    co_await tether::when_all(std::move(tasks));
    std::sort(grants.begin(), grants.end());
    for (int i = 0; i < 20; ++i) EXPECT_EQ(grants[i], std::chrono::milliseconds(20 * i));
  }());
}

// Property: try_acquire never waits and refills at the rate; n tokens at once count n.
TEST(RateLimiterTest, TryAcquireAndRefill) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    RateLimiter limit({.rate = 4, .per = 1s, .burst = 4});
    EXPECT_TRUE(limit.try_acquire(3));
    EXPECT_TRUE(limit.try_acquire());
    EXPECT_FALSE(limit.try_acquire());
    EXPECT_EQ(limit.time_until_available(2), 500ms);
    co_await tether::sleep(250ms);
    EXPECT_TRUE(limit.try_acquire());
    EXPECT_FALSE(limit.try_acquire());
    EXPECT_FALSE(limit.try_acquire(5));  // above the burst: never
    co_await tether::sleep(10s);         // refills only up to the burst
    EXPECT_TRUE(limit.try_acquire(4));
    EXPECT_FALSE(limit.try_acquire());
    EXPECT_EQ(limit.metrics().refused, 4u);
  }());
}

// Property: a cancelled acquire takes nothing: the next caller gets the token on time.
TEST(RateLimiterTest, CancelledAcquireConsumesNothing) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    RateLimiter limit({.rate = 1, .per = 1s, .burst = 1});
    co_await limit.acquire();
    auto h = tether::spawn(limit.acquire());
    co_await tether::sleep(500ms);
    h.abort();
    EXPECT_THROW(co_await h, tether::Cancelled);
    co_await limit.acquire();
    EXPECT_EQ(now_ms(), 1000ms);
    EXPECT_THROW(co_await limit.acquire(2), tether::Error);
  }());
}

TEST(RateLimiterTest, InvalidOptions) {
  EXPECT_THROW(RateLimiter({.rate = 0}), tether::Error);
  EXPECT_THROW(RateLimiter({.rate = 1, .burst = 0}), tether::Error);
}

}  // namespace

// sleep / sleep_until: virtual-time exactness, real-time sanity, cancellation, many timers.
#include "tether/time/sleep.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/testing/virtual_runtime.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Clock;
using tether::Task;
using tether::testing::VirtualRuntime;

// Property: in virtual time, an hour-long sleep completes at exactly +1h, at once in real time.
TEST(SleepTest, HourLongSleepIsExactInVirtualTime) {
  VirtualRuntime rt;
  auto real_start = std::chrono::steady_clock::now();
  auto elapsed = rt.block_on([]() -> Task<Clock::duration> {
    auto start = Clock::now();
    co_await tether::sleep(1h);
    co_return Clock::now() - start;
  }());
  EXPECT_EQ(elapsed, 1h);
  EXPECT_LT(std::chrono::steady_clock::now() - real_start, 1s);
}

// Property: sleepers wake in deadline order, each at its own deadline.
TEST(SleepTest, SleepersWakeInDeadlineOrder) {
  VirtualRuntime rt;
  std::vector<std::pair<int, Clock::duration>> wakes;
  auto sleeper = [](int ms, std::vector<std::pair<int, Clock::duration>>* out, tether::Instant t0) -> Task<void> {
    co_await tether::sleep(std::chrono::milliseconds(ms));
    out->emplace_back(ms, Clock::now() - t0);
  };
  auto root = [&]() -> Task<void> {
    auto t0 = Clock::now();
    std::vector<tether::JoinHandle<void>> hs;
    for (int ms : {5000, 3, 70, 64, 65, 4097, 1}) hs.push_back(tether::spawn(sleeper(ms, &wakes, t0)));
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root());
  ASSERT_EQ(wakes.size(), 7u);
  for (std::size_t i = 0; i < wakes.size(); ++i) {
    EXPECT_EQ(wakes[i].second, std::chrono::milliseconds(wakes[i].first));
    if (i) {
      EXPECT_LT(wakes[i - 1].first, wakes[i].first);
    }
  }
}

TEST(SleepTest, RealTimeSleepTakesAtLeastItsDuration) {
  tether::Runtime rt({.workers = 2});
  auto took = rt.block_on([]() -> Task<std::chrono::steady_clock::duration> {
    auto start = std::chrono::steady_clock::now();
    co_await tether::sleep(20ms);
    co_return std::chrono::steady_clock::now() - start;
  }());
  EXPECT_GE(took, 20ms);
}

TEST(SleepTest, SleepUntilThePastCompletesAtOnce) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto t = Clock::now();
    co_await tether::sleep_until(t - 5ms);
    EXPECT_EQ(Clock::now(), t);
  }());
}

// Property: a cancelled sleep throws Cancelled and removes its timer.
TEST(SleepTest, CancelledSleepRemovesItsTimer) {
  tether::Runtime rt({.workers = 2});
  rt.block_on([](tether::Runtime* rt) -> Task<void> {
    auto h = tether::spawn([]() -> Task<void> { co_await tether::sleep(1h); }());
    while (rt->metrics().timers == 0) co_await tether::sleep(1ms);
    h.abort();
    EXPECT_THROW(co_await h, tether::Cancelled);
    EXPECT_EQ(rt->metrics().timers, 0u);
  }(&rt));
}

// Property: many concurrent timers all fire (the wheel cascades correctly across levels).
TEST(SleepTest, ManyConcurrentTimersAllFire) {
  VirtualRuntime rt({.seed = 7});
  const int n = static_cast<int>(tether::test::scaled(100'000));
  int fired = 0;
  auto sleeper = [](int ms, int* fired) -> Task<void> {
    co_await tether::sleep(std::chrono::milliseconds(ms));
    ++*fired;
  };
  auto root = [&]() -> Task<void> {
    std::vector<tether::JoinHandle<void>> hs;
    hs.reserve(n);
    std::uint64_t x = 1;
    for (int i = 0; i < n; ++i) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      hs.push_back(tether::spawn(sleeper(static_cast<int>((x >> 33) % 300'000), &fired)));
    }
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root());
  EXPECT_EQ(fired, n);
}

}  // namespace

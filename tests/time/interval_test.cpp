// Interval: tick times under each missed-tick behaviour, in virtual time.
#include "tether/time/interval.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "tether/testing/virtual_runtime.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Clock;
using tether::Interval;
using tether::MissedTick;
using tether::Task;
using tether::testing::VirtualRuntime;

// Ticks 5 times with a 10 ms period; after the 2nd tick the handler stalls for 35 ms.
std::vector<long> tick_offsets(MissedTick missed) {
  VirtualRuntime rt;
  return rt.block_on([](MissedTick missed) -> Task<std::vector<long>> {
    auto t0 = Clock::now();
    Interval iv(10ms, missed);
    std::vector<long> out;
    for (int i = 0; i < 5; ++i) {
      co_await iv.tick();
      out.push_back((Clock::now() - t0).count());
      if (i == 1) co_await tether::sleep(35ms);
    }
    co_return out;
  }(missed));
}

TEST(IntervalTest, FirstTickIsImmediateThenEveryPeriod) {
  VirtualRuntime rt;
  auto offs = rt.block_on([]() -> Task<std::vector<long>> {
    auto t0 = Clock::now();
    Interval iv(10ms);
    std::vector<long> out;
    for (int i = 0; i < 4; ++i) {
      co_await iv.tick();
      out.push_back((Clock::now() - t0).count());
    }
    co_return out;
  }());
  EXPECT_EQ(offs, (std::vector<long>{0, 10, 20, 30}));
}

TEST(IntervalTest, BurstCatchesUpBackToBack) {
  EXPECT_EQ(tick_offsets(MissedTick::kBurst), (std::vector<long>{0, 10, 45, 45, 45}));
}

TEST(IntervalTest, DelayKeepsTheSpacing) {
  EXPECT_EQ(tick_offsets(MissedTick::kDelay), (std::vector<long>{0, 10, 45, 55, 65}));
}

TEST(IntervalTest, SkipDropsMissedTicks) {
  EXPECT_EQ(tick_offsets(MissedTick::kSkip), (std::vector<long>{0, 10, 45, 50, 60}));
}

}  // namespace

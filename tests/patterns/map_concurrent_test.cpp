// map_concurrent / map_concurrent_settled / for_each_concurrent: never more than `limit` in flight,
// input order, first failure cancels the rest, channel sources are not read ahead.
#include "tether/patterns/map_concurrent.hpp"

#include <gtest/gtest.h>

#include "channel/co_assert.hpp"

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "tether/channel/mpmc.hpp"
#include "tether/channel/mpsc.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
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

// Counts calls in flight and remembers the most seen at once.
struct HighWater {
  std::atomic<int> now{0};
  std::atomic<int> max{0};
  void enter() {
    int n = now.fetch_add(1, std::memory_order_relaxed) + 1;
    int m = max.load(std::memory_order_relaxed);
    while (n > m && !max.compare_exchange_weak(m, n, std::memory_order_relaxed)) {
    }
  }
  void leave() { now.fetch_sub(1, std::memory_order_relaxed); }
};

// Property: results come back in input order although the calls finish in a different order, and
// never more than `limit` calls are in flight (high-water mark).
TEST(MapConcurrentTest, InputOrderAndNeverMoreThanLimit) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    HighWater hw;
    std::vector<int> items;
    for (int i = 0; i < 20; ++i) items.push_back(i);
    auto fn = [&hw](int i) -> Task<int> {
      hw.enter();
      co_await tether::sleep(std::chrono::milliseconds(1 + (i * 7) % 5));
      hw.leave();
      co_return i* i;
    };
    auto out = co_await tether::map_concurrent(items, 3, fn);
    CO_ASSERT_TRUE(out.size() == 20u);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(out[i], i * i);
    EXPECT_EQ(hw.max.load(), 3);
  }());
}

// Property: with 2 workers and real parallelism the limit still holds.
TEST(MapConcurrentTest, LimitHoldsOnTwoWorkers) {
  tether::Runtime rt({.workers = 2});
  HighWater hw;
  auto out = rt.block_on([](HighWater* hw) -> Task<std::vector<int>> {
    std::vector<int> items(tether::test::scaled(400));
    for (std::size_t i = 0; i < items.size(); ++i) items[i] = static_cast<int>(i);
    co_return co_await tether::map_concurrent(items, 4, [hw](int i) -> Task<int> {
      hw->enter();
      co_await tether::sleep(1ms);
      hw->leave();
      co_return i + 1;
    });
  }(&hw));
  ASSERT_EQ(out.size(), tether::test::scaled(400));
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], static_cast<int>(i) + 1);
  EXPECT_LE(hw.max.load(), 4);
  EXPECT_GE(hw.max.load(), 2);
}

// Property: the first failure cancels the calls in flight, no further item is started, and the
// failure reaches the caller after everything unwound.
TEST(MapConcurrentTest, FirstFailureCancelsTheRest) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    std::vector<int> items(100);
    for (int i = 0; i < 100; ++i) items[i] = i;
    int started = 0;
    int cancelled = 0;
    auto fn = [&](int i) -> Task<int> {
      ++started;
      if (i == 2) {
        co_await tether::sleep(5ms);
        throw std::runtime_error("item 2 failed");
      }
      try {
        co_await tether::sleep(1h);
      } catch (const tether::Cancelled&) {
        ++cancelled;
        throw;
      }
      co_return i;
    };
    std::string what;
    try {
      co_await tether::map_concurrent(items, 4, fn);
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    EXPECT_EQ(what, "item 2 failed");
    EXPECT_EQ(started, 4);
    EXPECT_EQ(cancelled, 3);
    EXPECT_EQ(now_ms(), 5ms);
  }());
}

// Property: the settled variant runs every item and reports each outcome in order.
TEST(MapConcurrentTest, SettledCollectsEveryOutcome) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    std::vector<int> items{0, 1, 2, 3, 4, 5};
    auto out = co_await tether::map_concurrent_settled(items, 2, [](int i) -> Task<int> {
      co_await tether::sleep(1ms);
      if (i % 3 == 1) throw std::runtime_error("odd one " + std::to_string(i));
      co_return i * 10;
    });
    CO_ASSERT_TRUE(out.size() == 6u);
    for (int i = 0; i < 6; ++i) {
      if (i % 3 == 1) {
        EXPECT_TRUE(out[i].failed());
        EXPECT_THROW(out[i].value(), std::runtime_error);
      } else {
        CO_ASSERT_TRUE(out[i].ok());
        EXPECT_EQ(out[i].value(), i * 10);
      }
    }
    EXPECT_EQ(now_ms(), 3ms);
  }());
}

// Property: over a channel, items are pulled only when a slot is free: with limit 2, a producer
// that sends 10 items into a channel of capacity 1 is never more than limit + capacity ahead.
TEST(ForEachConcurrentTest, ChannelSourceIsNotReadAhead) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::mpsc::channel<int>(1);
    int sent = 0;
    int done = 0;
    int max_ahead = 0;
    auto producer = tether::spawn([](tether::mpsc::Sender<int> tx, int* sent) -> Task<void> {
      for (int i = 0; i < 10; ++i) {
        (void)co_await tx.send(i);
        ++*sent;
      }
    }(std::move(tx), &sent));
    HighWater hw;
    co_await tether::for_each_concurrent(rx, 2, [&](int) -> Task<void> {
      hw.enter();
      max_ahead = std::max(max_ahead, sent - done);
      co_await tether::sleep(10ms);
      ++done;
      hw.leave();
    });
    co_await producer;
    EXPECT_EQ(done, 10);
    EXPECT_EQ(hw.max.load(), 2);
    EXPECT_LE(max_ahead, 2 + 1);
    EXPECT_EQ(now_ms(), 50ms);
  }());
}

TEST(MapConcurrentTest, RvalueRangeAndMpmcSource) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    std::vector<std::string> words;  // (GCC 12 rejects a braced list of string literals in a coroutine)
    for (const char* w : {"a", "bb", "ccc"}) words.emplace_back(w);
    auto out = co_await tether::map_concurrent(std::move(words), 2,
                                               [](const std::string& s) -> Task<std::size_t> { co_return s.size(); });
    EXPECT_EQ(out, (std::vector<std::size_t>{1, 2, 3}));
    auto [tx, rx] = tether::mpmc::channel<int>(8);
    {
      auto sender = std::move(tx);  // dropped at the end of the block: the channel closes
      for (int i = 0; i < 5; ++i) (void)sender.try_send(i);
    }
    auto doubled = co_await tether::map_concurrent(rx, 3, [](int i) -> Task<int> { co_return 2 * i; });
    EXPECT_EQ(doubled, (std::vector<int>{0, 2, 4, 6, 8}));
  }());
}

TEST(MapConcurrentTest, ZeroLimitIsAnError) {
  VirtualRuntime rt;
  std::vector<int> items{1};
  EXPECT_THROW(rt.block_on(tether::for_each_concurrent(items, 0, [](int) -> Task<void> { co_return; })), tether::Error);
}

// Property: cancelling the caller cancels the calls in flight and stops pulling items.
TEST(MapConcurrentTest, CallerCancellationStopsEverything) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    std::vector<int> items(50, 0);
    int started = 0;
    auto fn = [&](int) -> Task<void> {
      ++started;
      co_await tether::sleep(1h);
    };
    auto h = tether::spawn(tether::for_each_concurrent(items, 5, fn));
    co_await tether::sleep(1ms);
    h.abort();
    EXPECT_THROW(co_await h, tether::Cancelled);
    EXPECT_EQ(started, 5);
  }());
}

}  // namespace

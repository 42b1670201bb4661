// WorkDeque, the workers' run queue: the owner's two ends, thieves' half-steals, and no task lost
// or taken twice when the owner pops at the back while thieves steal at the front.
#include "tether/core/detail/work_deque.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace {

using tether::detail::WorkDeque;
using Deque = WorkDeque<int>;

TEST(WorkDeque, OwnerPopsTheBackNewestFirst) {
  Deque q;
  int items[3] = {0, 1, 2};
  for (int& i : items) ASSERT_TRUE(q.push_back(&i));
  EXPECT_EQ(q.len(), 3u);
  EXPECT_EQ(q.pop_back(), &items[2]);
  EXPECT_EQ(q.pop_back(), &items[1]);
  EXPECT_EQ(q.pop_front(), &items[0]);
  EXPECT_EQ(q.pop_back(), nullptr);
  EXPECT_EQ(q.pop_front(), nullptr);
}

TEST(WorkDeque, RefusesWhenFullAndWrapsAround) {
  Deque q;
  std::vector<int> items(Deque::kCap + 1);
  // Many rounds, so that the 16-bit indices wrap around several times.
  for (int round = 0; round < 600; ++round) {
    for (std::uint32_t i = 0; i < Deque::kCap; ++i) ASSERT_TRUE(q.push_back(&items[i]));
    EXPECT_FALSE(q.push_back(&items[Deque::kCap]));
    EXPECT_EQ(q.len(), Deque::kCap);
    for (std::uint32_t i = 0; i < Deque::kCap; ++i) {
      // Odd rounds serve oldest first, even rounds newest first.
      if (round % 2) {
        ASSERT_EQ(q.pop_front(), &items[i]);
      } else {
        ASSERT_EQ(q.pop_back(), &items[Deque::kCap - 1 - i]);
      }
    }
    EXPECT_EQ(q.len(), 0u);
  }
}

TEST(WorkDeque, StealTakesTheOldestHalfRoundedUp) {
  Deque q;
  int items[5] = {0, 1, 2, 3, 4};
  for (int& i : items) ASSERT_TRUE(q.push_back(&i));
  int* out[8];
  ASSERT_EQ(q.steal(out, 8), 3u);
  EXPECT_EQ(out[0], &items[0]);
  EXPECT_EQ(out[1], &items[1]);
  EXPECT_EQ(out[2], &items[2]);
  ASSERT_EQ(q.steal(out, 1), 1u);  // at most `max`
  EXPECT_EQ(out[0], &items[3]);
  ASSERT_EQ(q.pop_batch(out, 8), 1u);
  EXPECT_EQ(out[0], &items[4]);
  EXPECT_EQ(q.steal(out, 8), 0u);
}

TEST(WorkDeque, FrontPushedBeforeTellsHowLongTheFrontWaited) {
  Deque q;
  int old_task = 0, new_task = 1;
  EXPECT_FALSE(q.front_pushed_before(q.pushed()));  // empty
  ASSERT_TRUE(q.push_back(&old_task));
  std::uint64_t mark = q.pushed();
  EXPECT_TRUE(q.front_pushed_before(mark));
  ASSERT_TRUE(q.push_back(&new_task));
  EXPECT_TRUE(q.front_pushed_before(mark));  // the old task is still at the front
  ASSERT_EQ(q.pop_front(), &old_task);
  EXPECT_FALSE(q.front_pushed_before(mark));  // what is left came after the mark
}

// The owner pushes and pops at both ends while two thieves steal: every item comes out exactly
// once. A lost item or one taken twice shows in the per-item counts.
TEST(WorkDeque, OwnerAndThievesNeverLoseOrDuplicateATask) {
  const std::size_t n = tether::test::scaled(400'000);
  std::vector<int> items(n);
  auto taken = std::make_unique<std::atomic<int>[]>(n);
  for (std::size_t i = 0; i < n; ++i) taken[i].store(0);
  auto take = [&](int* p) { taken[static_cast<std::size_t>(p - items.data())].fetch_add(1); };

  Deque q;
  std::atomic<bool> done{false};
  std::atomic<std::size_t> stolen{0};
  std::vector<std::thread> thieves;
  for (int k = 0; k < 2; ++k) {
    thieves.emplace_back([&] {
      int* out[Deque::kCap / 2];
      for (;;) {
        bool finished = done.load();
        std::size_t got = q.steal(out, Deque::kCap / 2);
        for (std::size_t i = 0; i < got; ++i) take(out[i]);
        stolen.fetch_add(got);
        if (finished && got == 0) return;
      }
    });
  }
  std::uint64_t rng = 42;
  auto next = [&] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  for (std::size_t i = 0; i < n; ++i) {
    if (!q.push_back(&items[i])) {
      take(&items[i]);  // full: the scheduler moves such a task to the global queue
    }
    if (i == n / 2) {
      // Halfway, make sure the thieves have taken part (the queue is not empty: we just pushed).
      while (stolen.load() == 0) std::this_thread::yield();
      continue;
    }
    switch (next() % 8) {
      case 0:
      case 1:
        if (int* p = q.pop_back()) take(p);
        break;
      case 2:
        if (int* p = q.pop_front()) take(p);
        break;
      default:
        break;
    }
  }
  while (int* p = q.pop_back()) take(p);
  done.store(true);
  for (auto& t : thieves) t.join();

  std::size_t wrong = 0;
  for (std::size_t i = 0; i < n; ++i) wrong += taken[i].load() != 1;
  EXPECT_EQ(wrong, 0u);
}

}  // namespace

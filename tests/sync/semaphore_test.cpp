// Semaphore: permits, FIFO, close, cancellation that loses no permit.
#include "tether/sync/semaphore.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <type_traits>
#include <vector>

#include "test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/yield.hpp"
#include "tether/time/sleep.hpp"
#include "tether/time/timeout.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Runtime;
using tether::Task;
using tether::sync::Semaphore;

static_assert(!std::is_copy_constructible_v<Semaphore>);
static_assert(!std::is_copy_constructible_v<Semaphore::Permit>);
static_assert(std::is_nothrow_move_constructible_v<Semaphore::Permit>);

TEST(SemaphoreTest, TryAcquireAndRaiiRelease) {
  Semaphore s(3);
  {
    auto p = s.try_acquire(2);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->count(), 2u);
    EXPECT_EQ(s.available_permits(), 1u);
    EXPECT_FALSE(s.try_acquire(2));
  }
  EXPECT_EQ(s.available_permits(), 3u);
  auto p = s.try_acquire(1);
  p->forget();
  EXPECT_EQ(s.available_permits(), 2u);
}

// Property: at most N tasks are inside the bounded section at once, under contention.
TEST(SemaphoreTest, BoundsConcurrency) {
  Runtime rt({.workers = 2});
  Semaphore s(3);
  std::atomic<int> inside{0}, max_inside{0};
  auto root = [](Semaphore* s, std::atomic<int>* inside, std::atomic<int>* mx) -> Task<void> {
    std::vector<tether::JoinHandle<void>> hs;
    for (int t = 0; t < 32; ++t) {
      hs.push_back(tether::spawn([](Semaphore* s, std::atomic<int>* inside, std::atomic<int>* mx) -> Task<void> {
        for (int i = 0; i < static_cast<int>(tether::test::scaled(200)); ++i) {
          auto p = co_await s->acquire();
          int now = inside->fetch_add(1) + 1;
          int m = mx->load();
          while (now > m && !mx->compare_exchange_weak(m, now)) {
          }
          co_await tether::yield_now();
          inside->fetch_sub(1);
        }
      }(s, inside, mx)));
    }
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root(&s, &inside, &max_inside));
  EXPECT_LE(max_inside.load(), 3);
  EXPECT_EQ(s.available_permits(), 3u);
}

// Property: a large request at the head is served before smaller ones behind it (FIFO, no
// starvation of the large request).
TEST(SemaphoreTest, FifoLargeRequestIsNotStarved) {
  Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  Semaphore s(0);
  std::vector<int> order;
  auto root = [](Semaphore* s, std::vector<int>* order) -> Task<void> {
    std::vector<tether::JoinHandle<void>> hs;
    const int sizes[] = {3, 1, 1, 2};
    for (int i = 0; i < 4; ++i) {
      hs.push_back(tether::spawn([](Semaphore* s, std::vector<int>* order, int i, int n) -> Task<void> {
        auto p = co_await s->acquire(static_cast<std::size_t>(n));
        order->push_back(i);
      }(s, order, i, sizes[i])));
      co_await tether::yield_now();
    }
    s->release(2);  // not enough for the head (3): nobody may pass it
    co_await tether::yield_now();
    co_await tether::yield_now();
    EXPECT_TRUE(order->empty());
    s->release(5);
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root(&s, &order));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

TEST(SemaphoreTest, CloseWakesWaitersWithClosed) {
  Runtime rt({.workers = 2});
  Semaphore s(0);
  auto root = [](Semaphore* s) -> Task<void> {
    auto h = tether::spawn([](Semaphore* s) -> Task<void> { (void)co_await s->acquire(); }(s));
    co_await tether::sleep(5ms);
    s->close();
    EXPECT_THROW(co_await h, tether::sync::Closed);
    EXPECT_THROW((void)co_await s->acquire(), tether::sync::Closed);
    EXPECT_FALSE(s->try_acquire());
  };
  rt.block_on(root(&s));
}

// Property: cancellation racing with acquisition and release never loses or duplicates a permit:
// when everything has finished, exactly the initial permits are available.
TEST(SemaphoreTest, CancellationRacingWithAcquireLosesNoPermit) {
  Runtime rt({.workers = 2});
  Semaphore s(4);
  std::atomic<long> acquired{0};
  auto root = [](Semaphore* s, std::atomic<long>* acquired) -> Task<void> {
    std::vector<tether::JoinHandle<void>> hs;
    for (int t = 0; t < 24; ++t) {
      hs.push_back(tether::spawn([](Semaphore* s, std::atomic<long>* acquired, int t) -> Task<void> {
        for (int i = 0; i < static_cast<int>(tether::test::scaled(300)); ++i) {
          try {
            auto p = co_await tether::timeout(1ms, s->acquire(1 + static_cast<std::size_t>((i + t) % 3)), "acquire");
            acquired->fetch_add(1, std::memory_order_relaxed);
            if (i % 3 == 0) co_await tether::yield_now();
          } catch (const tether::TimedOut&) {
          }
        }
      }(s, acquired, t)));
    }
    for (int k = 0; k < 6; ++k) {
      auto h = tether::spawn([](Semaphore* s) -> Task<void> {
        for (;;) auto p = co_await s->acquire(2);
      }(s));
      co_await tether::sleep(1ms);
      h.abort();
      try {
        co_await h;
      } catch (const tether::Cancelled&) {
      }
    }
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root(&s, &acquired));
  EXPECT_GT(acquired.load(), 0);
  EXPECT_EQ(s.available_permits(), 4u);
  EXPECT_TRUE(s.try_acquire(4));
}

}  // namespace

// Notify: permit semantics (stored, not accumulated), notify_all generations, FIFO.
#include "tether/sync/notify.hpp"

#include <gtest/gtest.h>

#include <atomic>
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
using tether::sync::Notify;

TEST(NotifyTest, NotifyOneWithoutWaiterStoresOnePermit) {
  Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  Notify n;
  auto root = [](Notify* n) -> Task<void> {
    n->notify_one();
    n->notify_one();         // permits do not accumulate
    co_await n->notified();  // consumes the permit at once
    EXPECT_THROW(co_await tether::timeout(5ms, n->notified(), "notified"), tether::TimedOut);
  };
  rt.block_on(root(&n));
}

TEST(NotifyTest, NotifyOneWakesWaitersInOrder) {
  Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  Notify n;
  std::vector<int> order;
  auto root = [](Notify* n, std::vector<int>* order) -> Task<void> {
    std::vector<tether::JoinHandle<void>> hs;
    for (int i = 0; i < 4; ++i) {
      hs.push_back(tether::spawn([](Notify* n, std::vector<int>* order, int i) -> Task<void> {
        co_await n->notified();
        order->push_back(i);
      }(n, order, i)));
      co_await tether::yield_now();
    }
    for (int i = 0; i < 4; ++i) {
      n->notify_one();
      co_await tether::yield_now();
    }
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root(&n, &order));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

// Property: notify_all() reaches a Notified created before it even if not yet awaited, and stores
// no permit for later ones.
TEST(NotifyTest, NotifyAllReachesCreatedNotifiedAndStoresNoPermit) {
  Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  Notify n;
  auto root = [](Notify* n) -> Task<void> {
    auto early = n->notified();
    n->notify_all();
    co_await early;  // completes: created before notify_all
    EXPECT_THROW(co_await tether::timeout(5ms, n->notified(), "notified"), tether::TimedOut);
  };
  rt.block_on(root(&n));
}

// Property: under contention every notify_one() wakes exactly one waiter or leaves one permit;
// cancelled waiters consume nothing.
TEST(NotifyTest, HammerNoLostWakeups) {
  Runtime rt({.workers = 2});
  Notify n;
  std::atomic<int> got{0};
  const int rounds = static_cast<int>(tether::test::scaled(2000));
  auto root = [](Notify* n, std::atomic<int>* got, int rounds) -> Task<void> {
    auto consumer = tether::spawn([](Notify* n, std::atomic<int>* got, int rounds) -> Task<void> {
      while (got->load() < rounds) {
        try {
          co_await tether::timeout(1ms, n->notified(), "notified");
          got->fetch_add(1);
        } catch (const tether::TimedOut&) {
        }
      }
    }(n, got, rounds));
    // The producer notifies only after the previous notification was consumed.
    for (int i = 0; i < rounds; ++i) {
      n->notify_one();
      while (got->load() <= i) co_await tether::yield_now();
    }
    co_await consumer;
  };
  rt.block_on(root(&n, &got, rounds));
  EXPECT_EQ(got.load(), rounds);
}

}  // namespace

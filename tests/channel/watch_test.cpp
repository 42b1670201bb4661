// watch: borrow gives the latest value; changed() waits for a newer one and reports the sender
// going away; intermediate values may be skipped but the latest is never missed.
#include "tether/channel/watch.hpp"

#include <gtest/gtest.h>

#include <string>
#include <type_traits>

#include "co_assert.hpp"
#include "test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/yield.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Task;

static_assert(!std::is_copy_constructible_v<tether::watch::Sender<int>>);
static_assert(std::is_copy_constructible_v<tether::watch::Receiver<int>>);
static_assert(std::is_nothrow_move_constructible_v<tether::watch::Receiver<int>>);
static_assert(
    std::is_same_v<decltype(std::declval<tether::watch::Receiver<int>&>().borrow()), std::shared_ptr<const int>>);

TEST(WatchTest, BorrowSeesLatestAndChangedWaitsForNewer) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::watch::channel<std::string>("v0");
    EXPECT_EQ(*rx.borrow(), "v0");
    EXPECT_FALSE(rx.has_changed());
    auto h = tether::spawn([](tether::watch::Sender<std::string> tx) -> Task<void> {
      co_await tether::sleep(5ms);
      tx.send("v1");
      tx.send("v2");  // v1 may never be seen: only the latest matters
      co_await tether::sleep(5ms);
      tx.send_modify([](std::string& s) { s += "+"; });
    }(std::move(tx)));
    auto t0 = tether::Clock::now();
    EXPECT_TRUE(co_await rx.changed());
    EXPECT_GE(tether::Clock::now() - t0, 5ms);
    EXPECT_EQ(*rx.borrow_and_update(), "v2");
    EXPECT_TRUE(co_await rx.changed());
    EXPECT_EQ(*rx.borrow(), "v2+");
    EXPECT_FALSE(co_await rx.changed());  // sender gone, nothing newer
    EXPECT_EQ(*rx.borrow(), "v2+");       // the last value stays readable
    co_await h;
  }());
}

// Property: a borrowed snapshot is immutable and stays valid while newer values are published.
TEST(WatchTest, BorrowIsASnapshot) {
  auto [tx, rx] = tether::watch::channel<int>(1);
  auto snap = rx.borrow();
  tx.send(2);
  EXPECT_EQ(*snap, 1);
  EXPECT_EQ(*rx.borrow(), 2);
  EXPECT_TRUE(rx.has_changed());
  auto rx2 = rx;  // copies have seen the same version
  EXPECT_TRUE(rx2.has_changed());
  (void)rx.borrow_and_update();
  EXPECT_FALSE(rx.has_changed());
  EXPECT_TRUE(rx2.has_changed());
  EXPECT_EQ(tx.receiver_count(), 2u);
}

TEST(WatchTest, CancelledChangedLosesNothing) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::watch::channel<int>(0);
    auto h = tether::spawn([](tether::watch::Receiver<int>* rx) -> Task<void> { (void)co_await rx->changed(); }(&rx));
    co_await tether::sleep(1ms);
    h.abort();
    EXPECT_THROW(co_await h, tether::Cancelled);
    tx.send(1);
    EXPECT_TRUE(co_await rx.changed());
    EXPECT_EQ(*rx.borrow(), 1);
  }());
}

// Property (stress): a writer publishes 1..n while readers wait in changed(); every reader observes
// a non-decreasing sequence and ends having seen the final value n.
TEST(WatchTest, StressReadersAlwaysSeeTheLatest) {
  const int n = static_cast<int>(tether::test::scaled(50'000));
  tether::Runtime rt({.workers = 2});
  rt.block_on([](int n) -> Task<void> {
    auto [tx, rx] = tether::watch::channel<int>(0);
    std::vector<tether::JoinHandle<int>> readers;
    for (int i = 0; i < 3; ++i) {
      readers.push_back(tether::spawn([](tether::watch::Receiver<int> rx) -> Task<int> {
        int last = 0;
        while (co_await rx.changed()) {
          int v = *rx.borrow_and_update();
          EXPECT_GE(v, last);
          last = v;
        }
        co_return *rx.borrow();
      }(rx)));
    }
    { auto drop = std::move(rx); }
    for (int i = 1; i <= n; ++i) {
      tx.send(i);
      if (i % 32 == 0) co_await tether::yield_now();
    }
    { auto gone = std::move(tx); }
    for (auto& r : readers) EXPECT_EQ(co_await r, n);
  }(n));
}

}  // namespace

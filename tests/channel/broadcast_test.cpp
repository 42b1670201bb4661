// broadcast: every receiver sees every value; a lagging receiver is told how many values it missed;
// senders never wait; closing.
#include "tether/channel/broadcast.hpp"

#include <gtest/gtest.h>

#include <string>
#include <type_traits>
#include <vector>

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

static_assert(std::is_copy_constructible_v<tether::broadcast::Sender<int>>);
static_assert(!std::is_copy_constructible_v<tether::broadcast::Receiver<int>>);
static_assert(std::is_nothrow_move_constructible_v<tether::broadcast::Receiver<int>>);

TEST(BroadcastTest, EveryReceiverSeesEveryValue) {
  tether::Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    auto [tx, rx1] = tether::broadcast::channel<int>(16);
    auto rx2 = tx.subscribe();
    auto reader = [](tether::broadcast::Receiver<int> rx) -> Task<int> {
      int sum = 0, expect = 0;
      for (;;) {
        auto r = co_await rx.recv();
        if (!r) {
          EXPECT_TRUE(r.error().is_closed());
          break;
        }
        EXPECT_EQ(*r, expect++);
        sum += *r;
      }
      co_return sum;
    };
    auto a = tether::spawn(reader(std::move(rx1)));
    auto b = tether::spawn(reader(std::move(rx2)));
    for (int i = 0; i < 10; ++i) EXPECT_EQ(*tx.send(i), 2u);
    { auto gone = std::move(tx); }
    EXPECT_EQ(co_await a, 45);
    EXPECT_EQ(co_await b, 45);
  }());
}

// Property: a receiver that falls behind by more than the capacity gets kLagged with the exact
// number of overwritten values, then continues with the oldest value still held; the sender never
// waited.
TEST(BroadcastTest, LaggingReceiverIsToldHowManyItMissed) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::broadcast::channel<int>(4);
    for (int i = 0; i < 10; ++i) EXPECT_TRUE(tx.send(i));  // never waits
    auto r = co_await rx.recv();
    CO_ASSERT_FALSE(r.has_value());
    EXPECT_TRUE(r.error().is_lagged());
    EXPECT_EQ(r.error().missed, 6u);
    for (int i = 6; i < 10; ++i) EXPECT_EQ(*co_await rx.recv(), i);
    EXPECT_TRUE(rx.try_recv().error().is_empty());
    for (int i = 10; i < 15; ++i) EXPECT_TRUE(tx.send(i));
    auto t = rx.try_recv();
    CO_ASSERT_FALSE(t.has_value());
    EXPECT_TRUE(t.error().is_lagged());
    EXPECT_EQ(t.error().missed, 1u);
    EXPECT_EQ(*rx.try_recv(), 11);
  }());
}

TEST(BroadcastTest, SendWithoutReceiversHandsTheValueBack) {
  auto [tx, rx] = tether::broadcast::channel<std::string>(2);
  { auto gone = std::move(rx); }
  auto r = tx.send("lost?");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().value, "lost?");
  auto late = tx.subscribe();  // a new subscriber sees only what is sent from now on
  EXPECT_EQ(*tx.send("hi"), 1u);
  EXPECT_EQ(*late.try_recv(), "hi");
}

// Property: a recv cancelled while waiting consumes nothing: the next recv gets the value.
TEST(BroadcastTest, CancelledRecvLosesNothing) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::broadcast::channel<int>(2);
    auto h = tether::spawn([](tether::broadcast::Receiver<int>* rx) -> Task<void> { (void)co_await rx->recv(); }(&rx));
    co_await tether::sleep(1ms);
    h.abort();
    EXPECT_THROW(co_await h, tether::Cancelled);
    EXPECT_TRUE(tx.send(1));
    EXPECT_EQ(*co_await rx.recv(), 1);
  }());
}

// Property (stress): several senders, several receivers reading concurrently with a small ring:
// each receiver accounts for every value, either received or reported missed: received + missed ==
// sent, and the received values from one sender are in increasing order.
TEST(BroadcastTest, StressReceivedPlusMissedEqualsSent) {
  const int per = static_cast<int>(tether::test::scaled(50'000));
  tether::Runtime rt({.workers = 2});
  rt.block_on([](int per) -> Task<void> {
    auto [tx, rx] = tether::broadcast::channel<std::uint64_t>(8);
    std::vector<tether::JoinHandle<std::uint64_t>> readers;
    auto reader = [](tether::broadcast::Receiver<std::uint64_t> rx) -> Task<std::uint64_t> {
      std::uint64_t seen = 0;
      std::int64_t last[2] = {-1, -1};
      for (;;) {
        auto r = co_await rx.recv();
        if (r) {
          auto p = *r >> 32;
          auto i = static_cast<std::int64_t>(*r & 0xffffffff);
          EXPECT_GT(i, last[p]);
          last[p] = i;
          ++seen;
        } else if (r.error().is_lagged()) {
          seen += r.error().missed;
        } else {
          break;
        }
      }
      co_return seen;
    };
    readers.push_back(tether::spawn(reader(tx.subscribe())));
    readers.push_back(tether::spawn(reader(std::move(rx))));
    std::vector<tether::JoinHandle<void>> senders;
    for (std::uint64_t p = 0; p < 2; ++p) {
      senders.push_back(
          tether::spawn([](tether::broadcast::Sender<std::uint64_t> tx, std::uint64_t p, int per) -> Task<void> {
            for (int i = 0; i < per; ++i) {
              EXPECT_TRUE(tx.send((p << 32) | std::uint64_t(i)));
              if (i % 64 == 0) co_await tether::yield_now();
            }
          }(tx, p, per)));
    }
    { auto gone = std::move(tx); }
    for (auto& s : senders) co_await s;
    for (auto& r : readers) EXPECT_EQ(co_await r, std::uint64_t(per) * 2);
  }(per));
}

}  // namespace

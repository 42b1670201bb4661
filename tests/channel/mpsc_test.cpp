// mpsc: FIFO, backpressure, closing from either side, try_ operations, deadlines, permits,
// compile-time contracts, and stress tests for lost/duplicated values and reordering.
#include "tether/channel/mpsc.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <random>
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
using tether::Runtime;
using tether::Task;
using tether::test::scaled;

// ---- compile-time contracts ----
static_assert(std::is_copy_constructible_v<tether::mpsc::Sender<int>>);
static_assert(std::is_nothrow_move_constructible_v<tether::mpsc::Sender<int>>);
static_assert(!std::is_copy_constructible_v<tether::mpsc::Receiver<int>>);
static_assert(!std::is_copy_assignable_v<tether::mpsc::Receiver<int>>);
static_assert(std::is_nothrow_move_constructible_v<tether::mpsc::Receiver<int>>);
static_assert(!std::is_copy_constructible_v<tether::mpsc::Permit<int>>);
static_assert(std::is_nothrow_move_constructible_v<tether::mpsc::Permit<int>>);
static_assert(tether::Awaitable<decltype(std::declval<tether::mpsc::Receiver<int>&>().recv())>);
static_assert(tether::Awaitable<decltype(std::declval<tether::mpsc::Sender<int>&>().send(1))>);
static_assert(std::is_same_v<tether::await_result_t<tether::detail::RecvAwaiter<int>>, std::optional<int>>);
static_assert(std::is_same_v<tether::await_result_t<tether::detail::SendAwaiter<int>>,
                             tether::Expected<void, tether::SendError<int>>>);
// A send-side error hands the value back, even for move-only values.
static_assert(std::is_same_v<decltype(std::declval<tether::SendError<std::unique_ptr<int>>>().into_value()),
                             std::unique_ptr<int>>);

TEST(MpscTest, ValuesArriveInOrderThenNulloptWhenSendersGone) {
  Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::mpsc::channel<int>(4);
    auto producer = tether::spawn([](tether::mpsc::Sender<int> tx) -> Task<void> {
      for (int i = 0; i < 100; ++i) EXPECT_TRUE(co_await tx.send(i));
    }(std::move(tx)));
    int expect = 0;
    while (auto v = co_await rx.recv()) EXPECT_EQ(*v, expect++);
    EXPECT_EQ(expect, 100);
    co_await producer;
  }());
}

TEST(MpscTest, CapacityZeroIsRejected) { EXPECT_THROW((void)tether::mpsc::channel<int>(0), tether::Error); }

TEST(MpscTest, TrySendReportsFullAndClosedWithTheValue) {
  auto [tx, rx] = tether::mpsc::channel<std::unique_ptr<int>>(1);
  EXPECT_TRUE(tx.try_send(std::make_unique<int>(1)));
  auto full = tx.try_send(std::make_unique<int>(2));
  ASSERT_FALSE(full);
  EXPECT_TRUE(full.error().is_full());
  EXPECT_EQ(*std::move(full).error().into_value(), 2);
  rx.close();
  auto closed = tx.try_send(std::make_unique<int>(3));
  ASSERT_FALSE(closed);
  EXPECT_TRUE(closed.error().is_closed());
  EXPECT_EQ(*closed.error().value, 3);
  // Closed, but the value sent before close is still there.
  auto v = rx.try_recv();
  ASSERT_TRUE(v);
  EXPECT_EQ(**v, 1);
  auto end = rx.try_recv();
  ASSERT_FALSE(end);
  EXPECT_TRUE(end.error().is_closed());
}

TEST(MpscTest, TryRecvEmptyThenClosedWhenLastSenderDropped) {
  auto [tx, rx] = tether::mpsc::channel<int>(2);
  EXPECT_EQ(rx.try_recv().error(), tether::TryRecvError{tether::TryRecvError::Kind::kEmpty});
  {
    auto tx2 = tx;  // two senders
    auto moved = std::move(tx);
    EXPECT_TRUE(tx2.try_send(5));
  }
  EXPECT_EQ(*rx.try_recv(), 5);
  EXPECT_EQ(rx.try_recv().error(), tether::TryRecvError{tether::TryRecvError::Kind::kClosed});
}

// Property: send waits while the buffer is full and completes as soon as a slot frees up, in the
// order the senders started waiting.
TEST(MpscTest, SendWaitsWhileFullThenCompletesInFifoOrder) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::mpsc::channel<int>(1);
    EXPECT_TRUE(co_await tx.send(0));
    std::atomic<int> done{0};
    auto blocked = [](tether::mpsc::Sender<int> tx, int v, std::atomic<int>* done) -> Task<void> {
      EXPECT_TRUE(co_await tx.send(v));
      done->fetch_add(1);
    };
    auto a = tether::spawn(blocked(tx, 1, &done));
    co_await tether::sleep(10ms);  // a waits first
    auto b = tether::spawn(blocked(tx, 2, &done));
    co_await tether::sleep(10ms);
    EXPECT_EQ(done.load(), 0);  // both wait: the buffer is full
    EXPECT_EQ(*co_await rx.recv(), 0);
    EXPECT_EQ(*co_await rx.recv(), 1);
    EXPECT_EQ(*co_await rx.recv(), 2);
    co_await a;
    co_await b;
    EXPECT_EQ(done.load(), 2);
  }());
}

// Property: a waiting sender gets its value back when the receiver goes away.
TEST(MpscTest, ReceiverDroppedWakesWaitingSenderWithItsValue) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::mpsc::channel<std::string>(1);
    EXPECT_TRUE(co_await tx.send("first"));
    auto waiting = tether::spawn([](tether::mpsc::Sender<std::string> tx) -> Task<std::string> {
      auto r = co_await tx.send("second");
      EXPECT_FALSE(r);
      co_return std::move(r).error().into_value();
    }(tx));
    co_await tether::sleep(5ms);
    { auto gone = std::move(rx); }
    EXPECT_EQ(co_await waiting, "second");
    auto after = co_await tx.send("third");
    CO_ASSERT_FALSE(after);
    EXPECT_EQ(after.error().value, "third");
    EXPECT_TRUE(tx.is_closed());
  }());
}

TEST(MpscTest, SendUntilTimesOutAndHandsTheValueBack) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::mpsc::channel<std::unique_ptr<int>>(1);
    EXPECT_TRUE(co_await tx.send_until(std::make_unique<int>(1), tether::Deadline::never()));
    auto t0 = tether::Clock::now();
    auto r = co_await tx.send_for(std::make_unique<int>(2), 50ms);
    CO_ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is_timed_out());
    EXPECT_EQ(*r.error().value, 2);
    EXPECT_GE(tether::Clock::now() - t0, 50ms);
    // With room, it completes at once; a closed channel reports kClosed with the value.
    EXPECT_EQ(**co_await rx.recv(), 1);
    EXPECT_TRUE(co_await tx.send_for(std::make_unique<int>(3), 50ms));
    rx.close();
    auto c = co_await tx.send_for(std::make_unique<int>(4), 50ms);
    CO_ASSERT_FALSE(c);
    EXPECT_TRUE(c.error().is_closed());
    EXPECT_EQ(*c.error().value, 4);
  }());
}

// Property: a permit holds a slot: others wait while it is held; permit.send never waits; a
// dropped permit gives its slot to the next waiting sender; permits keep the channel open.
TEST(MpscTest, ReservePermitHoldsTheSlotAndDroppedPermitReturnsIt) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::mpsc::channel<int>(1);
    auto permit = co_await tx.reserve();
    CO_ASSERT_TRUE(permit.has_value());
    EXPECT_TRUE(tx.try_send(1).error().is_full());
    auto waiter =
        tether::spawn([](tether::mpsc::Sender<int> tx) -> Task<void> { EXPECT_TRUE(co_await tx.send(7)); }(tx));
    co_await tether::sleep(5ms);
    EXPECT_FALSE(waiter.is_finished());
    permit.reset();  // the slot goes to the waiting sender
    co_await waiter;
    EXPECT_EQ(*co_await rx.recv(), 7);

    auto p2 = co_await tx.reserve();
    CO_ASSERT_TRUE(p2);
    { auto last = std::move(tx); }  // the permit still counts as a sender
    EXPECT_TRUE(rx.try_recv().error().is_empty());
    std::move(*p2).send(8);
    EXPECT_EQ(*co_await rx.recv(), 8);
    EXPECT_FALSE(co_await rx.recv());
  }());
}

TEST(MpscTest, ReserveOnClosedChannelGivesNullopt) {
  Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::mpsc::channel<int>(1);
    rx.close();
    EXPECT_FALSE(co_await tx.reserve());
  }());
}

TEST(MpscTest, ForEachReceivesUntilClosed) {
  Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::mpsc::channel<int>(8);
    auto p = tether::spawn([](tether::mpsc::Sender<int> tx) -> Task<void> {
      for (int i = 1; i <= 1000; ++i) (void)co_await tx.send(i);
    }(std::move(tx)));
    long sum = 0;
    std::size_t n = co_await rx.for_each([&](int v) { sum += v; });
    EXPECT_EQ(n, 1000u);
    EXPECT_EQ(sum, 500500);
    co_await p;
  }());
}

// Property: closing the receiver keeps buffered values receivable, then recv() says closed.
TEST(MpscTest, CloseKeepsBufferedValues) {
  Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::mpsc::channel<int>(4);
    EXPECT_TRUE(co_await tx.send(1));
    EXPECT_TRUE(co_await tx.send(2));
    rx.close();
    EXPECT_FALSE(co_await tx.send(3));
    EXPECT_EQ(*co_await rx.recv(), 1);
    EXPECT_EQ(*co_await rx.recv(), 2);
    EXPECT_FALSE(co_await rx.recv());
  }());
}

// Property: a recv cancelled while waiting takes nothing; the value goes to the next recv.
TEST(MpscTest, CancelledRecvLosesNothing) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::mpsc::channel<int>(1);
    auto r = tether::spawn([](tether::mpsc::Receiver<int>* rx) -> Task<void> {
      (void)co_await rx->recv();
      ADD_FAILURE() << "should have been cancelled";
    }(&rx));
    co_await tether::sleep(5ms);
    r.abort();
    EXPECT_THROW(co_await r, tether::Cancelled);
    EXPECT_TRUE(co_await tx.send(42));
    EXPECT_EQ(*co_await rx.recv(), 42);
  }());
}

// Property (stress): P producers × many values through a small buffer: every value received exactly
// once, and each producer's values in the order it sent them.
constexpr int kProducers = 4;
TEST(MpscTest, StressManyProducersExactlyOnceInPerProducerOrder) {
  const int per = static_cast<int>(scaled(200'000)) / kProducers;
  Runtime rt({.workers = 2});
  rt.block_on([](int per) -> Task<void> {
    auto [tx, rx] = tether::mpsc::channel<std::uint64_t>(16);
    std::vector<tether::JoinHandle<void>> ps;
    for (int p = 0; p < kProducers; ++p) {
      ps.push_back(tether::spawn([](tether::mpsc::Sender<std::uint64_t> tx, int p, int per) -> Task<void> {
        for (int i = 0; i < per; ++i) {
          EXPECT_TRUE(co_await tx.send((std::uint64_t(p) << 32) | std::uint32_t(i)));
        }
      }(tx, p, per)));
    }
    { auto drop = std::move(tx); }
    std::vector<std::int64_t> next(kProducers, 0);
    std::int64_t total = 0;
    while (auto v = co_await rx.recv()) {
      int p = static_cast<int>(*v >> 32);
      std::int64_t i = static_cast<std::uint32_t>(*v);
      CO_ASSERT_TRUE(p < kProducers);
      EXPECT_EQ(i, next[p]) << "producer " << p;
      next[p] = i + 1;
      ++total;
    }
    EXPECT_EQ(total, std::int64_t(per) * kProducers);
    for (auto& h : ps) co_await h;
  }(per));
}

}  // namespace

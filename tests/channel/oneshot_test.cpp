// oneshot: the value arrives once; a sender that goes away without sending is reported as such; a
// receiver that goes away makes send() hand the value back; cancellation loses nothing.
#include "tether/channel/oneshot.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <type_traits>

#include "co_assert.hpp"
#include "test_support.hpp"
#include "tether/core/concepts.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Task;

static_assert(!std::is_copy_constructible_v<tether::oneshot::Sender<int>>);
static_assert(!std::is_copy_constructible_v<tether::oneshot::Receiver<int>>);
static_assert(std::is_nothrow_move_constructible_v<tether::oneshot::Sender<int>>);
static_assert(std::is_nothrow_move_constructible_v<tether::oneshot::Receiver<int>>);
static_assert(std::is_same_v<tether::await_result_t<tether::oneshot::Receiver<int>&>,
                             tether::Expected<int, tether::oneshot::RecvError>>);

TEST(OneshotTest, ValueSentFromAnotherTaskArrives) {
  tether::Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::oneshot::channel<std::string>();
    auto h = tether::spawn([](tether::oneshot::Sender<std::string> tx) -> Task<void> {
      co_await tether::sleep(1ms);
      EXPECT_TRUE(tx.send("answer"));
    }(std::move(tx)));
    auto r = co_await rx;
    CO_ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, "answer");
    co_await h;
  }());
}

// Property: a sender destroyed without sending (here: its task failed) wakes the receiver with
// RecvError, not a hang and not a default value.
TEST(OneshotTest, SenderGoneWithoutSendingIsReported) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::oneshot::channel<int>();
    auto h = tether::spawn([](tether::oneshot::Sender<int> tx) -> Task<void> {
      co_await tether::sleep(5ms);
      throw std::runtime_error("worker died");
      (void)tx.send(1);
    }(std::move(tx)));
    auto r = co_await rx.recv();
    EXPECT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(), "oneshot sender gone");
    EXPECT_THROW(co_await h, std::runtime_error);
    EXPECT_TRUE(rx.try_recv().error().is_closed());
  }());
}

TEST(OneshotTest, ReceiverGoneHandsTheValueBack) {
  auto [tx, rx] = tether::oneshot::channel<std::unique_ptr<int>>();
  EXPECT_FALSE(tx.is_closed());
  { auto gone = std::move(rx); }
  EXPECT_TRUE(tx.is_closed());
  auto r = tx.send(std::make_unique<int>(4));
  ASSERT_FALSE(r);
  EXPECT_EQ(*std::move(r).error().into_value(), 4);
}

TEST(OneshotTest, TryRecvEmptyThenValueThenSecondReceiveIsAnError) {
  auto [tx, rx] = tether::oneshot::channel<int>();
  EXPECT_TRUE(rx.try_recv().error().is_empty());
  EXPECT_TRUE(tx.send(3));
  EXPECT_THROW((void)tx.send(4), tether::Error);
  EXPECT_EQ(*rx.try_recv(), 3);
  EXPECT_THROW((void)rx.try_recv(), tether::Error);
}

// Property: a recv cancelled while waiting consumes nothing; the value can be received afterwards.
TEST(OneshotTest, CancelledRecvLosesNothing) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::oneshot::channel<int>();
    auto h = tether::spawn([](tether::oneshot::Receiver<int>* rx) -> Task<void> { (void)co_await *rx; }(&rx));
    co_await tether::sleep(1ms);
    h.abort();
    EXPECT_THROW(co_await h, tether::Cancelled);
    EXPECT_TRUE(tx.send(8));
    EXPECT_EQ(*co_await rx, 8);
  }());
}

// Property (stress): send racing with the receiver's wait and with the sender's destruction: the
// receiver always ends with exactly the value or "sender gone", never hangs.
TEST(OneshotTest, StressSendRacingRecv) {
  tether::Runtime rt({.workers = 2});
  rt.block_on([](int n) -> Task<void> {
    int values = 0, gone = 0;
    for (int i = 0; i < n; ++i) {
      auto [tx, rx] = tether::oneshot::channel<int>();
      auto h = tether::spawn([](tether::oneshot::Sender<int> tx, int i) -> Task<void> {
        if (i % 3 != 0) (void)tx.send(i);
        co_return;
      }(std::move(tx), i));
      auto r = co_await rx;
      if (r) {
        EXPECT_EQ(*r, i);
        ++values;
      } else {
        ++gone;
      }
      co_await h;
    }
    EXPECT_EQ(gone, (n + 2) / 3);
    EXPECT_EQ(values + gone, n);
  }(static_cast<int>(tether::test::scaled(20'000))));
}

}  // namespace

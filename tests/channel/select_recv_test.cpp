// select() between a channel recv() and a sleep: the key property of issue 4 for channels. A recv
// branch that loses the select must leave its message in the channel, so looping on
// select(rx.recv(), sleep(...)) while a producer sends receives every message exactly once, in
// order.
#include <gtest/gtest.h>

#include <cstdint>
#include <variant>

#include "co_assert.hpp"
#include "test_support.hpp"
#include "tether/channel/broadcast.hpp"
#include "tether/channel/mpmc.hpp"
#include "tether/channel/mpsc.hpp"
#include "tether/channel/oneshot.hpp"
#include "tether/channel/watch.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/select.hpp"
#include "tether/core/spawn.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Runtime;
using tether::Task;
using tether::test::scaled;

// Property: select(rx.recv(), sleep(0..)) repeated many times, racing a producer on another
// worker, loses no message and duplicates none: the consumer sees 0, 1, 2, ... n-1, then closed.
// The sleep is zero or tiny so that both branches are often ready at once (the race that matters);
// it varies with the iteration so that a sleep(0) that always wins cannot stall the loop.
TEST(SelectRecvTest, RecvRacingSleepLosesNoMessage) {
  // A million in optimised builds (a tenth under the sanitizers); debug builds are too slow for it.
#if defined(NDEBUG)
  const std::uint64_t n = scaled(1'000'000);
#else
  const std::uint64_t n = 50'000;
#endif
  Runtime rt({.workers = 2});
  rt.block_on([](std::uint64_t n) -> Task<void> {
    auto [tx, rx] = tether::mpsc::channel<std::uint64_t>(64);
    auto producer = tether::spawn([](tether::mpsc::Sender<std::uint64_t> tx, std::uint64_t n) -> Task<void> {
      for (std::uint64_t i = 0; i < n; ++i) EXPECT_TRUE(co_await tx.send(i));
    }(std::move(tx), n));
    std::uint64_t expect = 0;
    std::uint64_t timeouts = 0;
    for (;;) {
      auto r = co_await tether::select(rx.recv(), tether::sleep(std::chrono::microseconds((expect + timeouts) % 3)));
      if (r.index() == 1) {
        ++timeouts;
        continue;
      }
      auto& v = std::get<0>(r);
      if (!v) break;  // closed and drained
      if (*v != expect) {
        ADD_FAILURE() << "got " << *v << ", expected " << expect;
        break;
      }
      ++expect;
    }
    EXPECT_EQ(expect, n);
    co_await producer;
    std::printf("select loop: %llu messages, %llu sleep wins\n", static_cast<unsigned long long>(expect),
                static_cast<unsigned long long>(timeouts));
  }(n));
}

// Property: when the sleep wins (deterministically, on virtual time), the message sent afterwards
// is still in the channel for the next recv.
TEST(SelectRecvTest, SleepWinsThenMessageIsStillThere) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::mpsc::channel<int>(1);
    auto r = co_await tether::select(rx.recv(), tether::sleep(10ms));
    EXPECT_EQ(r.index(), 1u);
    EXPECT_TRUE(co_await tx.send(5));
    auto r2 = co_await tether::select(rx.recv(), tether::sleep(10ms));
    CO_ASSERT_TRUE(r2.index() == 0);
    EXPECT_EQ(std::get<0>(r2), 5);
    EXPECT_TRUE(rx.try_recv().error().is_empty());
  }());
}

// Property: two recv branches on the same channel with one message: exactly one wins it, the other
// leaves the channel untouched (rule 4 for the buffered fast path).
TEST(SelectRecvTest, TwoRecvBranchesTakeOneMessage) {
  Runtime rt({.workers = 2});
  rt.block_on([](int rounds) -> Task<void> {
    auto [tx, rx] = tether::mpmc::channel<int>(4);
    auto rx2 = rx;
    for (int i = 0; i < rounds; ++i) {
      EXPECT_TRUE(co_await tx.send(i));
      EXPECT_TRUE(co_await tx.send(i + 1'000'000));
      auto r = co_await tether::select(rx.recv(), rx2.recv());
      int got = r.index() == 0 ? *std::get<0>(r) : *std::get<1>(r);
      EXPECT_EQ(got, i);
      auto rest = rx.try_recv();
      CO_ASSERT_TRUE(rest.has_value());
      EXPECT_EQ(*rest, i + 1'000'000);
      EXPECT_TRUE(rx.try_recv().error().is_empty());
    }
  }(static_cast<int>(scaled(20'000))));
}

// Property: a send branch that loses sends nothing.
TEST(SelectRecvTest, LosingSendBranchSendsNothing) {
  Runtime rt({.workers = 2});
  rt.block_on([](int rounds) -> Task<void> {
    auto [tx, rx] = tether::mpsc::channel<int>(1);
    auto [tx2, rx2] = tether::mpsc::channel<int>(1);
    int sent = 0;
    for (int i = 0; i < rounds; ++i) {
      auto r = co_await tether::select(tx.send(i), tx2.send(i));
      ++sent;
      // Exactly one channel holds exactly one value.
      auto a = rx.try_recv();
      auto b = rx2.try_recv();
      EXPECT_NE(a.has_value(), b.has_value()) << "round " << i << " winner " << r.index();
      EXPECT_EQ(a.has_value() ? 0u : 1u, r.index());
    }
    EXPECT_EQ(sent, rounds);
  }(static_cast<int>(scaled(20'000))));
}

// Property: the other receivers also keep their values when they lose a select.
TEST(SelectRecvTest, OneshotBroadcastWatchLoseNothingInSelect) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [otx, orx] = tether::oneshot::channel<int>();
    auto [btx, brx] = tether::broadcast::channel<int>(4);
    auto [wtx, wrx] = tether::watch::channel<int>(0);
    auto r = co_await tether::select(orx.recv(), brx.recv(), wrx.changed(), tether::sleep(5ms));
    EXPECT_EQ(r.index(), 3u);
    EXPECT_TRUE(otx.send(1));
    EXPECT_TRUE(btx.send(2));
    wtx.send(3);
    // Everything is ready now; whichever branch wins, the others' values remain.
    auto r2 = co_await tether::select(orx.recv(), brx.recv(), wrx.changed());
    if (r2.index() != 0) {
      EXPECT_EQ(*orx.try_recv(), 1);
    }
    if (r2.index() != 1) {
      EXPECT_EQ(*brx.try_recv(), 2);
    }
    if (r2.index() != 2) {
      EXPECT_TRUE(wrx.has_changed());
    }
  }());
}

}  // namespace

// mpmc: competing consumers, and the stress tests of issue 5 that catch lost or duplicated values:
// N producers × M consumers; close racing with send and recv; cancellation racing with send and
// recv.
#include "tether/channel/mpmc.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <random>
#include <type_traits>
#include <vector>

#include "co_assert.hpp"
#include "test_support.hpp"
#include "tether/channel/mpsc.hpp"
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

static_assert(std::is_copy_constructible_v<tether::mpmc::Receiver<int>>);
static_assert(std::is_copy_assignable_v<tether::mpmc::Receiver<int>>);
static_assert(std::is_nothrow_move_constructible_v<tether::mpmc::Receiver<int>>);
static_assert(std::is_copy_constructible_v<tether::mpmc::Sender<int>>);

TEST(MpmcTest, ClonedReceiversShareValuesAndCloseWhenAllSendersGone) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::mpmc::channel<int>(4);
    auto rx2 = rx;
    EXPECT_TRUE(co_await tx.send(1));
    EXPECT_TRUE(co_await tx.send(2));
    EXPECT_EQ(*co_await rx2.recv(), 1);
    EXPECT_EQ(*co_await rx.recv(), 2);
    { auto gone = std::move(tx); }
    EXPECT_FALSE(co_await rx.recv());
    EXPECT_FALSE(co_await rx2.recv());
  }());
}

// Property: the channel stays open while any receiver copy lives; the last one closes it.
TEST(MpmcTest, LastReceiverCopyClosesTheChannel) {
  auto [tx, rx] = tether::mpmc::channel<int>(4);
  {
    auto rx2 = rx;
    { auto gone = std::move(rx); }
    EXPECT_TRUE(tx.try_send(1));
  }
  EXPECT_TRUE(tx.try_send(2).error().is_closed());
}

// Property (stress): P producers × M consumers × n values, capacity 8: each value received exactly
// once, and each consumer sees each producer's values in increasing order (FIFO channel).
TEST(MpmcTest, StressProducersConsumersExactlyOnce) {
  constexpr int kP = 4;
  constexpr int kM = 3;
  const std::uint32_t per = static_cast<std::uint32_t>(scaled(300'000) / kP);
  struct Shared {
    std::vector<std::atomic<std::uint8_t>> seen;
    std::atomic<std::uint64_t> received{0};
    explicit Shared(std::size_t n) : seen(n) {}
  };
  Shared shared(std::size_t(per) * kP);
  Runtime rt({.workers = 2});
  rt.block_on([](std::uint32_t per, Shared* sh) -> Task<void> {
    auto [tx, rx] = tether::mpmc::channel<std::uint64_t>(8);
    std::vector<tether::JoinHandle<void>> hs;
    for (int c = 0; c < kM; ++c) {
      hs.push_back(
          tether::spawn([](tether::mpmc::Receiver<std::uint64_t> rx, std::uint32_t per, Shared* sh) -> Task<void> {
            std::vector<std::int64_t> last(kP, -1);
            while (auto v = co_await rx.recv()) {
              auto p = static_cast<std::uint32_t>(*v >> 32);
              auto i = static_cast<std::uint32_t>(*v);
              EXPECT_GT(std::int64_t(i), last[p]) << "reordered";
              last[p] = i;
              EXPECT_EQ(sh->seen[std::size_t(p) * per + i].fetch_add(1, std::memory_order_relaxed), 0) << "duplicate";
              sh->received.fetch_add(1, std::memory_order_relaxed);
            }
          }(rx, per, sh)));
    }
    { auto drop = std::move(rx); }
    for (int p = 0; p < kP; ++p) {
      hs.push_back(
          tether::spawn([](tether::mpmc::Sender<std::uint64_t> tx, std::uint32_t p, std::uint32_t per) -> Task<void> {
            for (std::uint32_t i = 0; i < per; ++i) EXPECT_TRUE(co_await tx.send((std::uint64_t(p) << 32) | i));
          }(tx, static_cast<std::uint32_t>(p), per)));
    }
    { auto drop = std::move(tx); }
    for (auto& h : hs) co_await h;
  }(per, &shared));
  EXPECT_EQ(shared.received.load(), std::uint64_t(per) * kP);
}

// Property (stress): close() racing with senders and receivers. Every send that returned success is
// received exactly once (nothing sent before close is lost); every send that failed got its own
// value back; after close, sends fail.
TEST(MpmcTest, StressCloseRacingSendAndRecv) {
  const int rounds = static_cast<int>(scaled(400));
  Runtime rt({.workers = 2});
  rt.block_on([](int rounds) -> Task<void> {
    std::mt19937 rng(12345);
    for (int round = 0; round < rounds; ++round) {
      auto [tx, rx] = tether::mpmc::channel<std::uint64_t>(1 + rng() % 8);
      struct Tally {
        std::atomic<std::uint64_t> sent_sum{0}, sent_n{0}, recv_sum{0}, recv_n{0};
      } tally;
      std::vector<tether::JoinHandle<void>> hs;
      for (std::uint64_t p = 0; p < 3; ++p) {
        hs.push_back(tether::spawn([](tether::mpmc::Sender<std::uint64_t> tx, std::uint64_t p, Tally* t) -> Task<void> {
          for (std::uint64_t i = 1;; ++i) {
            std::uint64_t v = p * 1'000'000 + i;
            auto r = co_await tx.send(v);
            if (!r) {
              EXPECT_EQ(r.error().value, v);          // handed back
              EXPECT_FALSE(co_await tx.send(v + 1));  // and closed for good
              co_return;
            }
            t->sent_sum.fetch_add(v, std::memory_order_relaxed);
            t->sent_n.fetch_add(1, std::memory_order_relaxed);
          }
        }(tx, p, &tally)));
      }
      for (int c = 0; c < 2; ++c) {
        hs.push_back(tether::spawn([](tether::mpmc::Receiver<std::uint64_t> rx, Tally* t) -> Task<void> {
          while (auto v = co_await rx.recv()) {
            t->recv_sum.fetch_add(*v, std::memory_order_relaxed);
            t->recv_n.fetch_add(1, std::memory_order_relaxed);
          }
        }(rx, &tally)));
      }
      { auto drop = std::move(tx); }
      for (unsigned i = rng() % 200; i > 0; --i) co_await tether::yield_now();
      rx.close();  // racing with everything above
      for (auto& h : hs) co_await h;
      // The receivers stop at "closed and drained", so everything sent successfully was received.
      EXPECT_EQ(tally.recv_n.load(), tally.sent_n.load()) << "round " << round;
      EXPECT_EQ(tally.recv_sum.load(), tally.sent_sum.load()) << "round " << round;
    }
  }(rounds));
}

// Property (stress): tasks blocked in send() and recv() are aborted at random moments while values
// flow. A cancelled send sends nothing, a cancelled recv takes nothing: at the end, the set of
// values received (each exactly once) equals the set of sends that returned success.
TEST(MpmcTest, StressCancellationRacingSendAndRecv) {
  const std::uint32_t n = static_cast<std::uint32_t>(scaled(200'000));
  struct Shared {
    std::vector<std::atomic<std::uint8_t>> sent, received;
    std::atomic<std::uint32_t> next{0};
    explicit Shared(std::size_t n) : sent(n), received(n) {}
  };
  Shared sh(n);
  Runtime rt({.workers = 2});
  rt.block_on([](std::uint32_t n, Shared* sh) -> Task<void> {
    auto [tx, rx] = tether::mpmc::channel<std::uint32_t>(4);
    auto producer = [](tether::mpmc::Sender<std::uint32_t> tx, std::uint32_t n, Shared* sh) -> Task<void> {
      for (;;) {
        std::uint32_t v = sh->next.fetch_add(1, std::memory_order_relaxed);
        if (v >= n) co_return;
        auto r = co_await tx.send(v);  // throws Cancelled when aborted: then v was not sent
        EXPECT_TRUE(r);
        sh->sent[v].store(1, std::memory_order_relaxed);
      }
    };
    auto consumer = [](tether::mpmc::Receiver<std::uint32_t> rx, Shared* sh) -> Task<void> {
      while (auto v = co_await rx.recv()) {
        EXPECT_EQ(sh->received[*v].fetch_add(1, std::memory_order_relaxed), 0) << "duplicate " << *v;
      }
    };
    std::vector<tether::JoinHandle<void>> producers, consumers;
    for (int i = 0; i < 3; ++i) producers.push_back(tether::spawn(producer(tx, n, sh)));
    for (int i = 0; i < 3; ++i) consumers.push_back(tether::spawn(consumer(rx, sh)));
    std::mt19937 rng(777);
    std::uint64_t aborts = 0;
    while (sh->next.load(std::memory_order_relaxed) < n) {
      for (unsigned i = rng() % 16; i > 0; --i) co_await tether::yield_now();
      bool prod = rng() % 2;
      auto& set = prod ? producers : consumers;
      std::size_t k = rng() % set.size();
      set[k].abort();
      try {
        co_await set[k];
      } catch (const tether::Cancelled&) {
      }
      ++aborts;
      set[k] = prod ? tether::spawn(producer(tx, n, sh)) : tether::spawn(consumer(rx, sh));
    }
    for (auto& h : producers) {
      try {
        co_await h;
      } catch (const tether::Cancelled&) {
      }
    }
    { auto drop = std::move(tx); }
    for (auto& h : consumers) co_await h;
    EXPECT_GT(aborts, 0u);
  }(n, &sh));
  std::uint32_t sent = 0;
  for (std::uint32_t v = 0; v < n; ++v) {
    std::uint8_t s = sh.sent[v].load(), r = sh.received[v].load();
    sent += s;
    ASSERT_EQ(s, r) << "value " << v << (s ? " sent but never received" : " received but never sent");
  }
  EXPECT_GT(sent, n / 2);
}

// Property: a receiver waiting on an empty mpmc channel is cancelled while a sender races to hand it
// a value: the value ends up with the other receiver, never lost (virtual time, many seeds).
TEST(MpmcTest, CancelledWaitingReceiverNeverSwallowsAHandOff) {
  for (std::uint64_t seed = 1; seed <= scaled(200); ++seed) {
    tether::testing::VirtualRuntime rt({.seed = seed});
    rt.block_on([]() -> Task<void> {
      auto [tx, rx] = tether::mpmc::channel<int>(1);
      auto victim = tether::spawn([](tether::mpmc::Receiver<int> rx) -> Task<int> {
        auto v = co_await rx.recv();
        co_return v ? *v : -1;
      }(rx));
      co_await tether::yield_now();
      auto sender =
          tether::spawn([](tether::mpmc::Sender<int> tx) -> Task<void> { EXPECT_TRUE(co_await tx.send(9)); }(tx));
      victim.abort();
      int got = -2;
      try {
        got = co_await victim;
      } catch (const tether::Cancelled&) {
      }
      co_await sender;
      if (got != 9) {
        EXPECT_EQ(*co_await rx.recv(), 9);
      }
    }());
  }
}

}  // namespace

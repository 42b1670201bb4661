// Barrier: rounds, one leader per round, cancellation withdraws the arrival.
#include "tether/sync/barrier.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/time/timeout.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Runtime;
using tether::Task;
using tether::sync::Barrier;

// Property: in every round all N tasks pass together (nobody starts round r+1 before everyone
// finished round r) and exactly one of them is the leader.
TEST(BarrierTest, RoundsWithOneLeaderEach) {
  Runtime rt({.workers = 2});
  constexpr int kTasks = 8;
  const int rounds = static_cast<int>(tether::test::scaled(200));
  Barrier b(kTasks);
  std::atomic<int> leaders{0};
  std::atomic<int> arrived{0};
  auto root = [](Barrier* b, std::atomic<int>* leaders, std::atomic<int>* arrived, int rounds) -> Task<void> {
    std::vector<tether::JoinHandle<void>> hs;
    for (int t = 0; t < kTasks; ++t) {
      hs.push_back(
          tether::spawn([](Barrier* b, std::atomic<int>* leaders, std::atomic<int>* arrived, int rounds) -> Task<void> {
            for (int r = 0; r < rounds; ++r) {
              arrived->fetch_add(1);
              auto res = co_await b->wait();
              // Everyone of this round has arrived.
              EXPECT_GE(arrived->load(), (r + 1) * kTasks);
              if (res.is_leader()) leaders->fetch_add(1);
              co_await b->wait();  // separates rounds so `arrived` checks are exact
            }
          }(b, leaders, arrived, rounds)));
    }
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root(&b, &leaders, &arrived, rounds));
  EXPECT_EQ(leaders.load(), rounds);
}

TEST(BarrierTest, CancelledWaitWithdrawsItsArrival) {
  Runtime rt({.workers = 2});
  Barrier b(2);
  auto root = [](Barrier* b) -> Task<void> {
    EXPECT_THROW(co_await tether::timeout(2ms, b->wait(), "barrier"), tether::TimedOut);
    // The cancelled arrival does not count: two new arrivals are needed.
    auto h = tether::spawn([](Barrier* b) -> Task<bool> { co_return (co_await b->wait()).is_leader(); }(b));
    const bool me = (co_await b->wait()).is_leader();
    EXPECT_NE(me, co_await h);
  };
  rt.block_on(root(&b));
}

}  // namespace

// Latch: count down from many tasks, waiters released at zero, cancellation.
#include "tether/sync/latch.hpp"

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
using tether::sync::Latch;

constexpr int kWorkers = 16;

// Property: waiters are released only when every count_down has happened, and all of them see
// the work done before the count_downs.
TEST(LatchTest, ReleasesWaitersAtZero) {
  Runtime rt({.workers = 2});
  Latch latch(kWorkers);
  std::atomic<int> done{0};
  auto root = [](Latch* latch, std::atomic<int>* done) -> Task<void> {
    std::vector<tether::JoinHandle<void>> waiters;
    for (int i = 0; i < 4; ++i) {
      waiters.push_back(tether::spawn([](Latch* l, std::atomic<int>* done) -> Task<void> {
        co_await l->wait();
        EXPECT_EQ(done->load(), kWorkers);
      }(latch, done)));
    }
    std::vector<tether::JoinHandle<void>> workers;
    for (int i = 0; i < kWorkers; ++i) {
      workers.push_back(tether::spawn([](Latch* l, std::atomic<int>* done) -> Task<void> {
        done->fetch_add(1);
        l->count_down();
        co_return;
      }(latch, done)));
    }
    for (auto& h : workers) co_await h;
    for (auto& h : waiters) co_await h;
    EXPECT_TRUE(latch->try_wait());
    co_await latch->wait();  // already zero: at once
  };
  rt.block_on(root(&latch, &done));
}

TEST(LatchTest, WaitIsCancellable) {
  Runtime rt({.workers = 2});
  Latch latch(1);
  auto root = [](Latch* l) -> Task<void> {
    EXPECT_THROW(co_await tether::timeout(2ms, l->wait(), "latch"), tether::TimedOut);
    EXPECT_FALSE(l->try_wait());
    co_await l->arrive_and_wait();
  };
  rt.block_on(root(&latch));
}

}  // namespace

// RwLock: shared readers, exclusive writers, FIFO (writers not starved), cancellation.
#include "tether/sync/rwlock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/yield.hpp"
#include "tether/time/timeout.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Runtime;
using tether::Task;
using tether::sync::RwLock;

static_assert(!std::is_copy_constructible_v<RwLock<int>>);
static_assert(std::is_nothrow_move_constructible_v<RwLock<int>::ReadGuard>);

// Property: readers never see a half-done write (the pair stays equal) and no write is lost.
TEST(RwLockTest, ReadersSeeWholeWritesAndNoWriteIsLost) {
  Runtime rt({.workers = 2});
  RwLock<std::pair<long, long>> l(0L, 0L);
  const int n = static_cast<int>(tether::test::scaled(2000));
  auto root = [](RwLock<std::pair<long, long>>* l, int n) -> Task<void> {
    std::vector<tether::JoinHandle<void>> hs;
    for (int t = 0; t < 16; ++t) {
      hs.push_back(tether::spawn([](RwLock<std::pair<long, long>>* l, int n, int t) -> Task<void> {
        for (int i = 0; i < n; ++i) {
          if (t % 4 == 0) {
            co_await l->write_with([](std::pair<long, long>& p) {
              ++p.first;
              ++p.second;
            });
          } else if (t % 4 == 1) {
            auto g = co_await l->read();
            EXPECT_EQ(g->first, g->second);
          } else if (t % 4 == 2) {
            auto g = co_await l->write();
            ++g->first;
            ++g->second;
          } else {
            bool eq = co_await l->read_with([](const std::pair<long, long>& p) { return p.first == p.second; });
            EXPECT_TRUE(eq);
          }
        }
      }(l, n, t)));
    }
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root(&l, n));
  EXPECT_EQ(l.get_unsynchronized().first, 8L * n);
  EXPECT_EQ(l.readers(), 0u);
  EXPECT_FALSE(l.write_locked());
}

// Property: a writer queued behind readers is served before readers that arrive after it (FIFO),
// and readers queued together enter together.
TEST(RwLockTest, FifoWriterIsNotStarvedByLaterReaders) {
  Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  RwLock<std::vector<std::string>> l;
  auto held = l.try_read();
  ASSERT_TRUE(held);
  auto root = [](RwLock<std::vector<std::string>>* l,
                 std::optional<RwLock<std::vector<std::string>>::ReadGuard>* held) -> Task<void> {
    std::vector<tether::JoinHandle<void>> hs;
    hs.push_back(tether::spawn([](RwLock<std::vector<std::string>>* l) -> Task<void> {
      co_await l->write_with([](std::vector<std::string>& v) { v.push_back("w"); });
    }(l)));
    co_await tether::yield_now();
    EXPECT_FALSE(l->try_read());  // a writer is queued: new readers wait behind it
    for (int i = 0; i < 2; ++i) {
      hs.push_back(tether::spawn([](RwLock<std::vector<std::string>>* l) -> Task<void> {
        auto n = co_await l->read_with([](const std::vector<std::string>& v) { return v.size(); });
        EXPECT_EQ(n, 1u);  // the writer went first
      }(l)));
      co_await tether::yield_now();
    }
    held->reset();
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root(&l, &held));
  EXPECT_EQ(l.get_unsynchronized(), std::vector<std::string>{"w"});
}

TEST(RwLockTest, CancelledWaiterLeavesTheQueue) {
  Runtime rt({.workers = 2});
  RwLock<int> l(0);
  auto held = l.try_read();
  auto root = [](RwLock<int>* l) -> Task<void> {
    EXPECT_THROW(co_await tether::timeout(2ms, l->write(), "write"), tether::TimedOut);
    // The cancelled writer is gone: readers are not blocked behind it.
    EXPECT_TRUE(l->try_read());
  };
  rt.block_on(root(&l));
}

}  // namespace

// Mutex<T>: with(), guards, FIFO hand-off, combining, cancellation, exceptions.
#include "tether/sync/mutex.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <type_traits>
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
using tether::sync::Mutex;

static_assert(!std::is_copy_constructible_v<Mutex<int>>);
static_assert(!std::is_move_constructible_v<Mutex<int>>);
static_assert(!std::is_copy_constructible_v<Mutex<int>::Guard>);
static_assert(std::is_nothrow_move_constructible_v<Mutex<int>::Guard>);
static_assert(tether::Awaitable<decltype(std::declval<Mutex<int>&>().with([](int&) { return 1; }))>);
static_assert(tether::Awaitable<decltype(std::declval<Mutex<int>&>().lock())>);

TEST(MutexTest, WithReturnsTheClosuresResult) {
  Runtime rt({.workers = 2});
  Mutex<std::string> m("a");
  auto root = [](Mutex<std::string>* m) -> Task<std::string> {
    co_await m->with([](std::string& s) { s += "b"; });
    co_return co_await m->with([](std::string& s) { return s + "c"; });
  };
  EXPECT_EQ(rt.block_on(root(&m)), "abc");
  EXPECT_FALSE(m.is_locked());
}

TEST(MutexTest, ClosureExceptionPropagatesAndReleases) {
  Runtime rt({.workers = 2});
  Mutex<int> m(0);
  auto root = [](Mutex<int>* m) -> Task<void> {
    EXPECT_THROW(co_await m->with([](int&) -> int { throw std::runtime_error("boom"); }), std::runtime_error);
    EXPECT_EQ(co_await m->with([](int& v) { return ++v; }), 1);
  };
  rt.block_on(root(&m));
}

// Property: no increment is lost or doubled when many tasks on two workers contend, through
// with() (combined or handed off) and guards alike; the counter is a plain int.
TEST(MutexTest, ContendedIncrementsAreExact) {
  Runtime rt({.workers = 2});
  constexpr int kTasks = 64;
  const int per_task = static_cast<int>(tether::test::scaled(2000));
  Mutex<long> m(0);
  auto root = [](Mutex<long>* m, int per_task) -> Task<void> {
    std::vector<tether::JoinHandle<void>> hs;
    for (int t = 0; t < kTasks; ++t) {
      hs.push_back(tether::spawn([](Mutex<long>* m, int n, bool guards) -> Task<void> {
        for (int i = 0; i < n; ++i) {
          if (guards && i % 4 == 0) {
            auto g = co_await m->lock();
            ++*g;
          } else {
            co_await m->with([](long& v) { ++v; });
          }
        }
      }(m, per_task, t % 2 == 0)));
    }
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root(&m, per_task));
  EXPECT_EQ(m.get_unsynchronized(), static_cast<long>(kTasks) * per_task);
  EXPECT_FALSE(m.is_locked());
}

// Property: waiters are served in arrival order, whether they wait in with() or lock().
TEST(MutexTest, WaitersAreServedFifo) {
  Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  Mutex<std::vector<int>> m;
  auto held = m.try_lock();  // taken outside any task
  ASSERT_TRUE(held);
  auto root = [](Mutex<std::vector<int>>* m, std::optional<Mutex<std::vector<int>>::Guard>* held) -> Task<void> {
    std::vector<tether::JoinHandle<void>> hs;
    for (int i = 0; i < 10; ++i) {
      hs.push_back(tether::spawn([](Mutex<std::vector<int>>* m, int i) -> Task<void> {
        if (i % 3 == 0) {
          auto g = co_await m->lock();
          g->push_back(i);
        } else {
          co_await m->with([i](std::vector<int>& v) { v.push_back(i); });
        }
      }(m, i)));
      co_await tether::yield_now();  // let it queue before the next one arrives
    }
    held->reset();
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root(&m, &held));
  EXPECT_EQ(m.get_unsynchronized(), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(MutexTest, TryLockFailsWhileHeld) {
  Mutex<int> m(1);
  auto g = m.try_lock();
  ASSERT_TRUE(g);
  EXPECT_FALSE(m.try_lock());
  **g = 2;
  g->unlock();
  EXPECT_TRUE(m.try_lock());
}

// Property: cancellation racing with acquisition (timeouts firing while tasks queue, hand-offs
// and combining in flight) never leaks the lock, never runs a cancelled closure, and never
// loses one that reported success.
TEST(MutexTest, CancellationRacingWithAcquisitionLosesNothing) {
  Runtime rt({.workers = 2});
  Mutex<long> m(0);
  std::atomic<long> succeeded{0};
  const int rounds = static_cast<int>(tether::test::scaled(300));
  auto root = [](Mutex<long>* m, std::atomic<long>* ok, int rounds) -> Task<void> {
    std::vector<tether::JoinHandle<void>> hs;
    for (int t = 0; t < 32; ++t) {
      hs.push_back(tether::spawn([](Mutex<long>* m, std::atomic<long>* ok, int rounds, int t) -> Task<void> {
        for (int i = 0; i < rounds; ++i) {
          try {
            if ((i + t) % 2) {
              co_await tether::timeout(1ms, m->with([](long& v) { ++v; }), "with");
            } else {
              auto g = co_await tether::timeout(1ms, m->lock(), "lock");
              ++*g;
              g.unlock();
            }
            ok->fetch_add(1, std::memory_order_relaxed);
          } catch (const tether::TimedOut&) {
          }
          if (i % 16 == 0) co_await tether::yield_now();
        }
      }(m, ok, rounds, t)));
    }
    // Aborts racing with everything else.
    for (int k = 0; k < 8; ++k) {
      auto h = tether::spawn([](Mutex<long>* m) -> Task<void> {
        for (;;)
          co_await m->with([](long& v) {
            ++v;
            --v;
          });
      }(m));
      co_await tether::sleep(1ms);
      h.abort();
      try {
        co_await h;
      } catch (const tether::Cancelled&) {
      }
    }
    for (auto& h : hs) co_await h;
  };
  rt.block_on(root(&m, &succeeded, rounds));
  EXPECT_EQ(m.get_unsynchronized(), succeeded.load());
  EXPECT_FALSE(m.is_locked());
  EXPECT_TRUE(m.try_lock());
}

}  // namespace

// CancellationToken: the tree, callbacks, awaiting cancellation, and tasks' own tokens.
#include "tether/core/cancellation_token.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/scope_exit.hpp"
#include "tether/core/shield.hpp"
#include "tether/core/this_task.hpp"
#include "tether/core/yield.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::CancellationToken;
using tether::Runtime;
using tether::Task;

TEST(CancellationTokenTest, ChildIsCancelledWithParentNotTheReverse) {
  CancellationToken parent;
  CancellationToken child = parent.child();
  CancellationToken grandchild = child.child();
  CancellationToken sibling = parent.child();
  child.cancel();
  EXPECT_TRUE(child.is_cancelled());
  EXPECT_TRUE(grandchild.is_cancelled());
  EXPECT_FALSE(parent.is_cancelled());
  EXPECT_FALSE(sibling.is_cancelled());
  parent.cancel();
  EXPECT_TRUE(sibling.is_cancelled());
  EXPECT_TRUE(parent.child().is_cancelled());  // a child made later starts cancelled
}

TEST(CancellationTokenTest, CallbackRunsOnceAndRegistrationIsRaii) {
  CancellationToken t;
  int runs = 0, dropped = 0;
  auto reg = t.on_cancel([&] { ++runs; });
  {
    auto gone = t.on_cancel([&] { ++dropped; });
  }
  t.cancel();
  t.cancel();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(dropped, 0);
  auto late = t.on_cancel([&] { ++runs; });  // already cancelled: runs at once
  EXPECT_EQ(runs, 2);
}

// Property: cancel() racing with registration and unregistration from other threads runs each
// callback at most once and never after its registration was destroyed.
TEST(CancellationTokenTest, ConcurrentCancelAndRegistration) {
  for (int round = 0; round < static_cast<int>(tether::test::scaled(200)); ++round) {
    CancellationToken t;
    std::atomic<int> runs{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
      threads.emplace_back([&] {
        for (int k = 0; k < 50; ++k) {
          auto reg = t.on_cancel([&] { runs.fetch_add(1); });
        }
      });
    }
    threads.emplace_back([&] { t.cancel(); });
    for (auto& th : threads) th.join();
    EXPECT_LE(runs.load(), 100);
  }
}

// Property: cancelling a task cancels the tasks it spawned and theirs (grandchildren).
TEST(CancellationTokenTest, CancellingParentCancelsGrandchildren) {
  Runtime rt({.workers = 2});
  std::atomic<int> cancelled{0};
  std::atomic<int> started{0};
  auto leaf = [&]() -> Task<void> {
    try {
      started.fetch_add(1);
      co_await tether::sleep(1h);
    } catch (const tether::Cancelled&) {
      cancelled.fetch_add(1);
      throw;
    }
  };
  auto middle = [&]() -> Task<void> {
    auto a = tether::spawn(leaf());
    auto b = tether::spawn(leaf());
    co_await a;
    co_await b;
  };
  auto root = [&]() -> Task<void> {
    auto m = tether::spawn(middle());
    // Both leaves are inside their try blocks (a task aborted before it starts never runs, so
    // waiting on a timer count, which includes this task's own sleep, could race that).
    while (started.load() < 2) co_await tether::sleep(1ms);
    m.abort();
    EXPECT_THROW(co_await m, tether::Cancelled);
    // `middle` ends at its first rethrown Cancelled; the other leaf, whose handle it dropped, runs
    // on detached and may not have seen its cancellation yet. Wait for it (bounded, so that a leaf
    // that is never cancelled fails the test instead of hanging it).
    for (int i = 0; i < 10'000 && cancelled.load() < 2; ++i) co_await tether::sleep(1ms);
  };
  rt.block_on(root());
  EXPECT_EQ(cancelled.load(), 2);
}

TEST(CancellationTokenTest, AwaitCancelled) {
  Runtime rt({.workers = 2});
  CancellationToken t;
  auto root = [&]() -> Task<void> {
    auto waiter = tether::spawn([](CancellationToken t) -> Task<bool> {
      co_await t.cancelled();
      co_return t.is_cancelled();
    }(t));
    co_await tether::sleep(2ms);
    t.cancel();
    EXPECT_TRUE(co_await waiter);
  };
  rt.block_on(root());
}

TEST(CancellationTokenTest, TaskSpawnedUnderTokenIsCancelledByIt) {
  Runtime rt({.workers = 2});
  CancellationToken t;
  auto root = [&]() -> Task<void> {
    auto h = tether::spawn([]() -> Task<void> { co_await tether::sleep(1h); }(), {.token = &t});
    co_await tether::sleep(1ms);
    t.cancel();
    EXPECT_THROW(co_await h, tether::Cancelled);
  };
  rt.block_on(root());
}

// Property: cancellation still reaches the children of a task that has finished (its node stays
// in the tree while they live), also after the workers have retired the finished task in a batch.
TEST(CancellationTokenTest, CancellingReachesTasksSpawnedByAFinishedTask) {
  Runtime rt({.workers = 2});
  CancellationToken t;
  std::atomic<bool> child_cancelled{false};
  auto child = [](std::atomic<bool>* cancelled) -> Task<void> {
    try {
      co_await tether::sleep(1h);
    } catch (const tether::Cancelled&) {
      cancelled->store(true);
      throw;
    }
  };
  auto root = [&]() -> Task<void> {
    auto parent = tether::spawn(
        [](auto child, std::atomic<bool>* cancelled) -> Task<void> {
          tether::spawn_detached(child(cancelled));
          co_return;
        }(child, &child_cancelled),
        {.token = &t});
    co_await parent;
    // More finished tasks than a retire batch holds, then a pause in which the workers park: the
    // finished parent's retirement has certainly been flushed.
    std::vector<tether::JoinHandle<void>> filler;
    for (int i = 0; i < 200; ++i) filler.push_back(tether::spawn([]() -> Task<void> { co_return; }()));
    for (auto& f : filler) co_await f;
    co_await tether::sleep(5ms);
    t.cancel();
    for (int i = 0; i < 10'000 && !child_cancelled.load(); ++i) co_await tether::sleep(1ms);
  };
  rt.block_on(root());
  EXPECT_TRUE(child_cancelled.load());
}

// Property: a cancelled task throws at each later suspension; cleanup in ScopeExit runs; a shielded
// operation completes despite the cancellation.
TEST(CancellationTokenTest, ShieldLetsCleanupFinish) {
  Runtime rt({.workers = 2});
  std::atomic<bool> cleaned{false}, flushed{false};
  auto worker = [&]() -> Task<void> {
    auto cleanup = tether::ScopeExit([&] { cleaned = true; });
    try {
      co_await tether::sleep(1h);
    } catch (const tether::Cancelled&) {
    }
    co_await tether::shield([](std::atomic<bool>* flushed) -> Task<void> {
      co_await tether::sleep(2ms);  // would throw if the cancellation reached it
      *flushed = true;
    }(&flushed));
    co_await tether::sleep(1ms);  // cancelled again here
    ADD_FAILURE() << "a cancelled task must throw at its next suspension";
  };
  auto root = [&]() -> Task<void> {
    auto h = tether::spawn(worker());
    while (rt.metrics().timers < 1) co_await tether::yield_now();  // the worker is asleep
    h.abort();
    EXPECT_THROW(co_await h, tether::Cancelled);
  };
  rt.block_on(root());
  EXPECT_TRUE(cleaned.load());
  EXPECT_TRUE(flushed.load());
}

TEST(CancellationTokenTest, CurrentIsTheTasksToken) {
  Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  auto root = []() -> Task<void> {
    CancellationToken mine = CancellationToken::current();
    EXPECT_FALSE(mine.is_cancelled());
    mine.cancel();
    EXPECT_TRUE(tether::this_task::is_cancelled());
    EXPECT_THROW(co_await tether::yield_now(), tether::Cancelled);
  };
  rt.block_on(root());
}

}  // namespace

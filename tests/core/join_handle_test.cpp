// JoinHandle: values, exceptions, abort, detach and the error log for unobserved failures.
#include "tether/core/join_handle.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "test_support.hpp"
#include "tether/core/detail/frame_allocator.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/scope_exit.hpp"
#include "tether/core/shield.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/this_task.hpp"
#include "tether/core/yield.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::JoinHandle;
using tether::Runtime;
using tether::Task;

static_assert(!std::is_copy_constructible_v<JoinHandle<int>>);
static_assert(std::is_nothrow_move_constructible_v<JoinHandle<int>>);

Task<int> value(int v) { co_return v; }
Task<int> join(JoinHandle<int> h) { co_return co_await h; }
Task<int> failing() {
  throw std::runtime_error("boom");
  co_return 0;
}

TEST(JoinHandleTest, AwaitGivesValueOrRethrows) {
  Runtime rt({.workers = 2});
  auto root = []() -> Task<void> {
    EXPECT_EQ(co_await tether::spawn(value(3)), 3);
    EXPECT_THROW(co_await tether::spawn(failing()), std::runtime_error);
  };
  rt.block_on(root());
}

// Property: abort() on a task that has not started means it never runs, and its join reports
// Cancelled.
TEST(JoinHandleTest, AbortBeforeStartNeverRuns) {
  Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  bool ran = false;
  auto root = [&]() -> Task<void> {
    auto h = tether::spawn([](bool* ran) -> Task<void> {
      *ran = true;
      co_return;
    }(&ran));
    h.abort();  // single-threaded: the task cannot have started yet
    EXPECT_THROW(co_await h, tether::Cancelled);
  };
  rt.block_on(root());
  EXPECT_FALSE(ran);
}

TEST(JoinHandleTest, AbortWakesASuspendedTask) {
  Runtime rt({.workers = 2});
  auto root = []() -> Task<void> {
    auto h = tether::spawn([]() -> Task<void> { co_await tether::sleep(1h); }());
    co_await tether::yield_now();
    h.abort();
    EXPECT_THROW(co_await h, tether::Cancelled);
  };
  rt.block_on(root());
}

// Property: abort_and_wait() returns once the aborted task has ended, and passes on a failure
// other than Cancelled (a task that failed before the abort).
TEST(JoinHandleTest, AbortAndWaitReturnsOnceTheTaskEnded) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto sleeper = tether::spawn([]() -> Task<void> { co_await tether::sleep(1h); }());
    co_await tether::yield_now();
    co_await sleeper.abort_and_wait();
    EXPECT_TRUE(sleeper.is_finished());
    auto failed = tether::spawn(failing());
    while (!failed.is_finished()) co_await tether::yield_now();
    EXPECT_THROW(co_await failed.abort_and_wait(), std::runtime_error);
  }());
}

// Property: cancelling the task that waits in abort_and_wait() does not cut the wait short: it
// returns only after the aborted task has finished its cleanup (here a shielded 5 ms), so what that
// task uses may be freed right after. An unshielded `co_await h` would throw at once.
TEST(JoinHandleTest, AbortAndWaitOutlastsTheCallersCancellation) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    bool started = false;
    bool cleaned_up = false;
    bool seen_by_stopper = false;
    auto worker = [](bool* started, bool* cleaned_up) -> Task<void> {
      *started = true;
      bool cancelled = false;
      try {
        co_await tether::sleep(1h);
      } catch (const tether::Cancelled&) {
        cancelled = true;
      }
      if (!cancelled) co_return;
      co_await tether::shield(tether::sleep(5ms));
      *cleaned_up = true;
    };
    auto w = tether::spawn(worker(&started, &cleaned_up));
    // Running, in its sleep (the virtual runtime runs ready tasks in a seeded order; a task aborted
    // before it starts never runs, so it would have no cleanup to wait for).
    while (!started) co_await tether::yield_now();
    auto stopper = [](JoinHandle<void>* w, bool* cleaned_up, bool* seen) -> Task<void> {
      co_await w->abort_and_wait();
      *seen = *cleaned_up;
    };
    auto s = tether::spawn(stopper(&w, &cleaned_up, &seen_by_stopper));
    co_await tether::sleep(1ms);  // the stopper waits; the worker is in its shielded cleanup
    co_await s.abort_and_wait();
    EXPECT_TRUE(seen_by_stopper) << "abort_and_wait() returned before the task finished its cleanup";
  }());
}

// Property: a detached task that fails is logged at error level with its name; nothing is silent.
TEST(JoinHandleTest, DetachedFailureReachesTheLog) {
  tether::test::LogCapture log;
  {
    Runtime rt({.workers = 2, .logger = log.logger});
    auto root = [](Runtime* rt) -> Task<void> {
      tether::spawn(failing(), {.name = "doomed"}).detach();
      while (rt->metrics().tasks_failed < 1) co_await tether::yield_now();  // it has run and failed
    };
    rt.block_on(root(&rt));
  }
  EXPECT_TRUE(log.contains("error task")) << "log lines: " << log.lines().size();
  EXPECT_TRUE(log.contains("'doomed' failed and nobody awaited it: boom"));
}

TEST(JoinHandleTest, DroppedHandleOfFailedTaskIsLogged) {
  tether::test::LogCapture log;
  {
    Runtime rt({.flavor = tether::Flavor::kCurrentThread, .logger = log.logger});
    auto root = []() -> Task<void> {
      auto h = tether::spawn(failing(), {.name = "ignored"});
      while (!h.is_finished()) co_await tether::yield_now();
    };  // h dropped here without being awaited
    rt.block_on(root());
  }
  EXPECT_TRUE(log.contains("'ignored' failed and nobody awaited it"));
}

TEST(JoinHandleTest, AwaitedFailureIsNotLoggedAsUnobserved) {
  tether::test::LogCapture log;
  {
    Runtime rt({.workers = 2, .logger = log.logger});
    auto root = []() -> Task<void> {
      try {
        co_await tether::spawn(failing());
      } catch (const std::runtime_error&) {
      }
    };
    rt.block_on(root());
  }
  EXPECT_FALSE(log.contains("nobody awaited"));
}

TEST(JoinHandleTest, LifecycleIsLoggedAtDebug) {
  tether::test::LogCapture log;
  {
    Runtime rt({.flavor = tether::Flavor::kCurrentThread, .logger = log.logger});
    rt.block_on([]() -> Task<void> { co_await tether::spawn(value(1), {.name = "worker-7"}); }());
  }
  EXPECT_TRUE(log.contains("debug task"));
  EXPECT_TRUE(log.contains("'worker-7' spawned"));
  EXPECT_TRUE(log.contains("'worker-7' completed after"));
}

TEST(JoinHandleTest, DefaultNameIsTheSpawnLocation) {
  Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  auto root = []() -> Task<std::string> {
    auto h = tether::spawn([]() -> Task<std::string> { co_return tether::this_task::name(); }());
    co_return co_await h;
  };
  std::string name = rt.block_on(root());
  EXPECT_NE(name.find("join_handle_test.cpp:"), std::string::npos) << name;
}

// Property: task ids are unique within a runtime although each thread takes them in blocks: spawns
// from both workers and from outside the runtime, across more than one block per thread, and from
// a second runtime (which starts its own ids) interleaved with the first.
TEST(JoinHandleTest, TaskIdsAreUniqueAcrossSpawningThreads) {
  constexpr int kPerSpawner = 3000;  // about three id blocks per thread
  Runtime rt({.workers = 2});
  Runtime other({.workers = 1});
  std::vector<std::uint64_t> ids;
  auto spawner = []() -> Task<std::vector<std::uint64_t>> {
    std::vector<std::uint64_t> mine;
    for (int i = 0; i < kPerSpawner; ++i) {
      auto h = tether::spawn(value(i));
      mine.push_back(h.id());
      co_await h;
      if (i % 100 == 0) co_await tether::yield_now();  // let the other worker steal the spawner
    }
    co_return mine;
  };
  auto root = [&]() -> Task<void> {
    auto a = tether::spawn(spawner());
    auto b = tether::spawn(spawner());
    for (auto* h : {&a, &b}) {
      for (std::uint64_t id : co_await *h) ids.push_back(id);
    }
  };
  for (int i = 0; i < 3; ++i) {
    other.block_on(value(i));  // this thread takes ids from another runtime in between
    auto h = rt.spawn(value(i));
    ids.push_back(h.id());
    rt.block_on(join(std::move(h)));
  }
  rt.block_on(root());
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end()) << "a task id was handed out twice";
  EXPECT_EQ(ids.size(), 3u + 2u * kPerSpawner);
}

// Property: a task that finished well while its handle is kept holds only its join cell: its
// header goes back to the allocator at completion, so 50,000 finished, unjoined tasks take far
// less than 50,000 headers. Spawned in batches that finish before the next, so the headers and
// frames of one batch are reused by the next and only the join cells pile up.
TEST(JoinHandleTest, FinishedTaskKeepsOnlyItsJoinCell) {
  constexpr int kTasks = 50'000;
  constexpr int kBatch = 100;
  Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  std::size_t grew = rt.block_on([]() -> Task<std::size_t> {
    std::vector<JoinHandle<int>> handles;
    handles.reserve(kTasks);
    std::size_t before = 0;
    for (int i = 0; i < kTasks; ++i) {
      handles.push_back(tether::spawn(value(i)));
      if ((i + 1) % kBatch == 0) {
        while (!handles.back().is_finished()) co_await tether::yield_now();
        if (i + 1 == kBatch) before = tether::detail::frame_allocator_reserved_bytes();
      }
    }
    std::size_t grew = tether::detail::frame_allocator_reserved_bytes() - before;
    for (int i = 0; i < kTasks; ++i) EXPECT_EQ(co_await handles[static_cast<std::size_t>(i)], i);
    co_return grew;
  }());
  if (tether::detail::frame_allocator_reserved_bytes() == 0) GTEST_SKIP() << "the frame allocator is bypassed (ASan)";
  // A join cell of an int result is 64 bytes; a header alone is over 200. The allocator takes
  // memory 1 MiB at a time, hence the slack.
  EXPECT_LE(grew, kTasks * sizeof(tether::detail::JoinCell<int>) + 2 * 1024 * 1024);
  EXPECT_LT(sizeof(tether::detail::JoinCell<int>), sizeof(tether::detail::TaskHeader) / 2);
}

// Property: abort() racing the task's completion on another worker is safe and loses nothing: each
// join gives the value or Cancelled, never a crash or a hang (the join cell hands the abort a
// reference on the header only while the task still runs). Hammered from two workers under TSan.
TEST(JoinHandleTest, AbortRacingCompletionGivesValueOrCancelled) {
  constexpr int kTasks = 2000;
  Runtime rt({.workers = 2});
  auto counts = rt.block_on([]() -> Task<std::pair<int, int>> {
    int values = 0;
    int cancelled = 0;
    for (int i = 0; i < kTasks; ++i) {
      auto h = tether::spawn(value(i));
      if (i % 3 == 0) co_await tether::yield_now();  // some finish first, some are aborted first
      h.abort();
      h.abort();  // idempotent, also once finished
      try {
        EXPECT_EQ(co_await h, i);
        ++values;
      } catch (const tether::Cancelled&) {
        ++cancelled;
      }
      EXPECT_TRUE(h.is_finished());
    }
    co_return std::pair{values, cancelled};
  }());
  EXPECT_EQ(counts.first + counts.second, kTasks);
}

// Property: a handle still knows its task's id once the task finished and its header is gone.
TEST(JoinHandleTest, IdOutlivesTheTask) {
  Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  rt.block_on([]() -> Task<void> {
    auto h = tether::spawn(value(1));
    std::uint64_t id = h.id();
    EXPECT_NE(id, 0u);
    while (!h.is_finished()) co_await tether::yield_now();
    EXPECT_EQ(h.id(), id);
    EXPECT_EQ(co_await h, 1);
  }());
}

// Property: spawn_detached() runs the task, and its failure reaches the error log with its name
// (there is no handle to observe it); a detached task that ends well logs nothing.
TEST(JoinHandleTest, SpawnDetachedRunsAndLogsItsFailure) {
  tether::test::LogCapture log;
  int ran = 0;
  {
    Runtime rt({.workers = 2, .logger = log.logger});
    rt.block_on([](Runtime* rt, int* ran) -> Task<void> {
      tether::spawn_detached(failing(), {.name = "fire-and-forget"});
      tether::spawn_detached([](int* ran) -> Task<void> {
        ++*ran;
        co_return;
      }(ran));
      while (rt->metrics().tasks_completed < 2) co_await tether::yield_now();  // both have ended
    }(&rt, &ran));
  }
  EXPECT_EQ(ran, 1);
  EXPECT_TRUE(log.contains("'fire-and-forget' failed and nobody awaited it: boom"));
  auto lines = log.lines();
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.starts_with("error"); }), 1)
      << "only the failure is logged at error level";
}

// Property: a detached task parked forever is cancelled and its frame destroyed (RAII cleanup
// runs) when the runtime goes away; nothing leaks (LeakSanitizer checks the ASan build).
TEST(JoinHandleTest, SpawnDetachedTaskIsCancelledAtTeardown) {
  bool cleaned_up = false;
  {
    Runtime rt({.workers = 2});
    rt.block_on([](bool* cleaned_up) -> Task<void> {
      tether::spawn_detached([](bool* cleaned_up) -> Task<void> {
        tether::ScopeExit on_exit([cleaned_up] { *cleaned_up = true; });
        co_await tether::sleep(1h);
      }(cleaned_up));
      co_return;
    }(&cleaned_up));
  }
  EXPECT_TRUE(cleaned_up);
}

}  // namespace

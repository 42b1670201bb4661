// scope(): waits for all children; the first failure cancels siblings and reaches the owner.
#include "tether/task/scope.hpp"

#include <gtest/gtest.h>

#include <atomic>

#include "tether/core/runtime.hpp"
#include "tether/core/yield.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Scope;
using tether::Task;
using tether::testing::VirtualRuntime;

TEST(ScopeTest, DoesNotFinishBeforeItsChildren) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    int finished = 0;
    int r = co_await tether::scope([&finished](Scope& s) -> Task<int> {
      for (int i = 1; i <= 3; ++i) {
        s.spawn([](int i, int* f) -> Task<void> {
          co_await tether::sleep(std::chrono::milliseconds(i * 10));
          ++*f;
        }(i, &finished));
      }
      co_return 42;
    });
    EXPECT_EQ(r, 42);
    EXPECT_EQ(finished, 3);
    EXPECT_EQ(tether::Clock::now().time_since_epoch(), 30ms);
  }());
}

// Property: a child's failure cancels its siblings (which unwind), then reaches the owner.
TEST(ScopeTest, ChildFailureCancelsSiblingsAndPropagates) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    int sibling_cancelled = 0;
    try {
      co_await tether::scope([&sibling_cancelled](Scope& s) -> Task<void> {
        s.spawn([](int* c) -> Task<void> {
          try {
            co_await tether::sleep(1h);
          } catch (const tether::Cancelled&) {
            ++*c;
            throw;
          }
        }(&sibling_cancelled));
        s.spawn([]() -> Task<void> {
          co_await tether::sleep(5ms);
          throw std::runtime_error("child failed");
        }());
        co_await tether::sleep(1h);  // the body is cancelled too
      });
      ADD_FAILURE() << "expected the child's failure";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "child failed");
    }
    EXPECT_EQ(sibling_cancelled, 1);
    EXPECT_EQ(tether::Clock::now().time_since_epoch(), 5ms);
  }());
}

// Property: cancelling the owner cancels everything in the scope; nothing outlives it.
TEST(ScopeTest, OwnerCancellationReachesChildren) {
  tether::Runtime rt({.workers = 2});
  std::atomic<int> unwound{0};
  rt.block_on([](tether::Runtime* rt, std::atomic<int>* unwound) -> Task<void> {
    auto owner = tether::spawn([](std::atomic<int>* u) -> Task<void> {
      co_await tether::scope([u](Scope& s) -> Task<void> {
        for (int i = 0; i < 4; ++i) {
          s.spawn([](std::atomic<int>* u) -> Task<void> {
            try {
              co_await tether::sleep(1h);
            } catch (const tether::Cancelled&) {
              u->fetch_add(1);
              throw;
            }
          }(u));
        }
        co_return;
      });
    }(unwound));
    while (rt->metrics().timers < 4) co_await tether::yield_now();  // all four children asleep
    owner.abort();
    EXPECT_THROW(co_await owner, tether::Cancelled);
    EXPECT_EQ(unwound->load(), 4);  // all unwound before the owner finished
  }(&rt, &unwound));
}

}  // namespace

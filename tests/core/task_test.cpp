// Task<T>: results and exceptions through nested awaits, symmetric transfer, move semantics.
#include "tether/core/task.hpp"
#include "tether/core/concepts.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <type_traits>

#include "test_support.hpp"
#include "tether/core/runtime.hpp"

namespace {

using tether::Task;

static_assert(!std::is_copy_constructible_v<Task<int>>);
static_assert(std::is_nothrow_move_constructible_v<Task<int>>);
static_assert(tether::Awaitable<Task<int>>);
static_assert(std::is_same_v<tether::await_result_t<Task<std::string>>, std::string>);

Task<int> leaf(int v) { co_return v; }

Task<int> chain(int depth) {
  if (depth == 0) co_return co_await leaf(1);
  co_return 1 + co_await chain(depth - 1);
}

Task<int> thrower(int depth) {
  if (depth == 0) throw std::runtime_error("deep failure");
  co_return co_await thrower(depth - 1);
}

Task<void> nothing() { co_return; }

TEST(TaskTest, ResultPropagatesThroughDeepChain) {
  tether::Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  EXPECT_EQ(rt.block_on(chain(1000)), 1001);
}

TEST(TaskTest, ExceptionPropagatesThroughDeepChain) {
  tether::Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  try {
    rt.block_on(thrower(1000));
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "deep failure");
  }
}

// Property: awaiting many short tasks in sequence runs in constant stack (symmetric transfer); a
// non-symmetric implementation overflows the 8 MiB stack long before ten million.
TEST(TaskTest, SequentialAwaitsDoNotGrowTheStack) {
  tether::Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  const std::size_t n = tether::test::scaled(10'000'000);
  auto loop = [](std::size_t n) -> Task<std::size_t> {
    std::size_t sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += static_cast<std::size_t>(co_await leaf(1));
    co_return sum;
  };
  EXPECT_EQ(rt.block_on(loop(n)), n);
}

TEST(TaskTest, VoidTaskCompletes) {
  tether::Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  rt.block_on(nothing());
  SUCCEED();
}

TEST(TaskTest, MovedFromTaskIsEmptyAndUnawaitedTaskIsDestroyed) {
  int destroyed = 0;
  struct Probe {
    int* d;
    ~Probe() { ++*d; }
  };
  auto make = [](int* d) -> Task<int> {
    Probe p{d};
    co_return 5;
  };
  {
    Task<int> a = make(&destroyed);
    Task<int> b = std::move(a);
    EXPECT_FALSE(a.valid());
    EXPECT_TRUE(b.valid());
  }
  // The body never ran (lazy), so the probe was never constructed.
  EXPECT_EQ(destroyed, 0);
}

TEST(TaskTest, MoveOnlyResult) {
  tether::Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  auto make = []() -> Task<std::unique_ptr<int>> { co_return std::make_unique<int>(42); };
  EXPECT_EQ(*rt.block_on(make()), 42);
}

}  // namespace

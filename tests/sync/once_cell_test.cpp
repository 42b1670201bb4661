// OnceCell: one initialisation for concurrent callers; a failed one lets the next caller try.
#include "tether/sync/once_cell.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Runtime;
using tether::Task;
using tether::sync::OnceCell;

// Property: many concurrent callers run the initialiser once and all see the same value.
TEST(OnceCellTest, ConcurrentCallersShareOneInit) {
  Runtime rt({.workers = 2});
  OnceCell<std::string> cell;
  std::atomic<int> inits{0};
  auto root = [](OnceCell<std::string>* cell, std::atomic<int>* inits) -> Task<void> {
    std::vector<tether::JoinHandle<const std::string*>> hs;
    for (int i = 0; i < 32; ++i) {
      hs.push_back(tether::spawn([](OnceCell<std::string>* cell, std::atomic<int>* inits) -> Task<const std::string*> {
        co_return co_await cell->get_or_init([inits]() -> Task<std::string> {
          inits->fetch_add(1);
          co_await tether::sleep(2ms);
          co_return std::string("value");
        });
      }(cell, inits)));
    }
    const std::string* first = nullptr;
    for (auto& h : hs) {
      const std::string* p = co_await h;
      EXPECT_EQ(*p, "value");
      if (!first) first = p;
      EXPECT_EQ(p, first);
    }
  };
  rt.block_on(root(&cell, &inits));
  EXPECT_EQ(inits.load(), 1);
  ASSERT_NE(cell.get(), nullptr);
  EXPECT_FALSE(cell.set("other"));
}

// Property: a failing initialiser leaves the cell empty and the next waiting caller runs its own.
TEST(OnceCellTest, FailedInitLetsTheNextCallerTry) {
  Runtime rt({.workers = 2});
  OnceCell<int> cell;
  std::atomic<int> attempts{0};
  auto root = [](OnceCell<int>* cell, std::atomic<int>* attempts) -> Task<void> {
    auto init = [attempts]() -> Task<int> {
      co_await tether::sleep(1ms);
      if (attempts->fetch_add(1) == 0) throw std::runtime_error("first attempt fails");
      co_return 42;
    };
    std::vector<tether::JoinHandle<int>> hs;
    for (int i = 0; i < 8; ++i) {
      hs.push_back(tether::spawn([](OnceCell<int>* cell, decltype(init) init) -> Task<int> {
        try {
          co_return *co_await cell->get_or_init(init);
        } catch (const std::runtime_error&) {
          co_return -1;
        }
      }(cell, init)));
    }
    int failed = 0;
    for (auto& h : hs) {
      int v = co_await h;
      if (v == -1) {
        ++failed;
      } else {
        EXPECT_EQ(v, 42);
      }
    }
    EXPECT_EQ(failed, 1);
  };
  rt.block_on(root(&cell, &attempts));
  EXPECT_EQ(attempts.load(), 2);
}

TEST(OnceCellTest, SetBeforeInit) {
  Runtime rt({.flavor = tether::Flavor::kCurrentThread});
  OnceCell<int> cell;
  EXPECT_EQ(cell.get(), nullptr);
  EXPECT_TRUE(cell.set(7));
  auto root = [](OnceCell<int>* cell) -> Task<int> {
    co_return *co_await cell->get_or_init([]() -> Task<int> { co_return 1; });
  };
  EXPECT_EQ(rt.block_on(root(&cell)), 7);
}

}  // namespace

// Pipeline: bounded stages, order, backpressure, draining, failure naming the stage, metrics.
#include "tether/patterns/pipeline.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <ranges>
#include <stdexcept>
#include <string>
#include <vector>

#include "channel/co_assert.hpp"
#include "test_support.hpp"
#include "tether/channel/mpsc.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/clock.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::StageOptions;
using tether::Task;
using tether::testing::VirtualRuntime;

std::chrono::milliseconds now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(tether::Clock::now().time_since_epoch());
}

// An item that counts how many live (not moved-from) instances exist, and the most at once.
struct Counted {
  static inline std::atomic<int> live{0};
  static inline std::atomic<int> max_live{0};
  int value = 0;
  bool alive = false;

  explicit Counted(int v) : value(v), alive(true) { enter(); }
  Counted(Counted&& o) noexcept : value(o.value), alive(std::exchange(o.alive, false)) {}
  Counted& operator=(Counted&& o) noexcept {
    if (alive) live.fetch_sub(1);
    value = o.value;
    alive = std::exchange(o.alive, false);
    return *this;
  }
  Counted(const Counted&) = delete;
  ~Counted() {
    if (alive) live.fetch_sub(1);
  }
  static void enter() {
    int n = live.fetch_add(1) + 1;
    int m = max_live.load();
    while (n > m && !max_live.compare_exchange_weak(m, n)) {
    }
  }
  static void reset() {
    live = 0;
    max_live = 0;
  }
};

// Property: an ordered stage with several workers keeps the input order although items finish out
// of order; a sync function works as a stage; the report counts every item.
TEST(PipelineTest, OrderedStageKeepsOrder) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    std::vector<int> input;
    for (int i = 0; i < 40; ++i) input.push_back(i);
    std::vector<int> seen;
    auto report = co_await tether::pipeline(input, {.name = "numbers", .capacity = 4})
                      .stage(
                          [](int i) -> Task<int> {
                            co_await tether::sleep(std::chrono::milliseconds((i * 13) % 7 + 1));
                            co_return i * 2;
                          },
                          {.name = "double", .parallelism = 4, .capacity = 4})
                      .stage([](int i) { return std::to_string(i); }, {.name = "format"})
                      .sink([&seen](std::string s) { seen.push_back(std::stoi(s)); });
    CO_ASSERT_TRUE(seen.size() == 40u);
    for (int i = 0; i < 40; ++i) EXPECT_EQ(seen[i], 2 * i);
    CO_ASSERT_TRUE(report.stages.size() == 4u);
    EXPECT_EQ(report.stages[0].name, "numbers");
    EXPECT_EQ(report.stages[1].name, "double");
    EXPECT_EQ(report.stages[3].name, "sink");
    for (const auto& s : report.stages) {
      EXPECT_EQ(s.items_in, 40u) << s.name;
      EXPECT_EQ(s.items_out, 40u) << s.name;
      EXPECT_EQ(s.queue_depth, 0u) << s.name;
    }
  }());
}

// Property: an unordered stage delivers every item (in completion order).
TEST(PipelineTest, UnorderedStageDeliversEverything) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    std::vector<int> input;
    for (int i = 0; i < 30; ++i) input.push_back(i);
    std::vector<int> seen;
    co_await tether::pipeline(std::move(input))
        .stage(
            [](int i) -> Task<int> {
              co_await tether::sleep(std::chrono::milliseconds(30 - i));
              co_return i;
            },
            {.name = "slow first", .parallelism = 30, .capacity = 30, .ordered = false})
        .sink([&seen](int i) { seen.push_back(i); });
    CO_ASSERT_TRUE(seen.size() == 30u);
    EXPECT_EQ(seen.front(), 29);  // finished first
    std::sort(seen.begin(), seen.end());
    for (int i = 0; i < 30; ++i) EXPECT_EQ(seen[i], i);
  }());
}

// Property: with a slow sink, backpressure reaches the source: live items never exceed the sum of
// the channel capacities plus one per worker, and the channels do fill up to that bound.
TEST(PipelineTest, SlowSinkBoundsLiveItems) {
  Counted::reset();
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto source = std::views::iota(0, 200) | std::views::transform([](int i) { return Counted(i); });
    int consumed = 0;
    auto report = co_await tether::pipeline(source, {.name = "gen", .capacity = 2})
                      .stage([](Counted c) -> Task<Counted> { co_return c; },
                             {.name = "a", .parallelism = 3, .capacity = 4, .ordered = false})
                      .stage(
                          [](Counted c) -> Task<Counted> {
                            co_await tether::sleep(1ms);
                            co_return c;
                          },
                          {.name = "b", .parallelism = 2, .capacity = 3})
                      .sink([&](Counted) -> Task<void> {
                        co_await tether::sleep(10ms);
                        ++consumed;
                      });
    EXPECT_EQ(consumed, 200);
    // capacities 2 + 4 + 3, workers 1 (source) + 3 + 2 + 1 (sink)
    EXPECT_LE(Counted::max_live.load(), 9 + 7);
    EXPECT_GE(Counted::max_live.load(), 9);
    EXPECT_EQ(Counted::live.load(), 0);
    EXPECT_EQ(report.bottleneck()->name, "sink");
  }());
}

Task<void> produce(tether::mpsc::Sender<int> tx, int n) {
  for (int i = 0; i < n; ++i) {
    if (!co_await tx.send(i)) co_return;
    co_await tether::sleep(1ms);
  }
}  // dropping tx closes the source

// Property: closing the source (a channel) drains every stage and ends the pipeline; nothing lost.
TEST(PipelineTest, ClosingTheSourceDrainsEveryStage) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    auto [tx, rx] = tether::mpsc::channel<int>(8);
    auto producer = tether::spawn(produce(std::move(tx), 100));
    long sum = 0;
    int n = 0;
    auto report = co_await tether::pipeline(std::move(rx))
                      .stage(
                          [](int i) -> Task<int> {
                            co_await tether::sleep(5ms);
                            co_return i + 1;
                          },
                          {.name = "inc", .parallelism = 8, .capacity = 8})
                      .stage([](int i) { return i * 10; }, {.name = "times ten", .parallelism = 2, .ordered = false})
                      .sink([&](int v) {
                        sum += v;
                        ++n;
                      });
    co_await producer;
    EXPECT_EQ(n, 100);
    EXPECT_EQ(sum, 10L * (100 * 101 / 2));
    EXPECT_EQ(report.stages.back().items_in, 100u);
  }());
}

// Property: a failing stage cancels the whole pipeline; the error names the stage and carries the
// original exception.
TEST(PipelineTest, StageFailureCancelsPipelineAndNamesTheStage) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    std::vector<int> input(1000);
    for (int i = 0; i < 1000; ++i) input[i] = i;
    int sink_cancelled = 0;
    std::string stage;
    std::string inner;
    try {
      co_await tether::pipeline(input)
          .stage(
              [](int i) -> Task<int> {
                co_await tether::sleep(1ms);
                if (i == 10) throw std::invalid_argument("bad item 10");
                co_return i;
              },
              {.name = "validate", .parallelism = 2})
          .sink([&](int) -> Task<void> {
            try {
              co_await tether::sleep(1h);
            } catch (const tether::Cancelled&) {
              ++sink_cancelled;
              throw;
            }
          });
      ADD_FAILURE() << "expected a PipelineError";
    } catch (const tether::PipelineError& e) {
      stage = e.stage();
      try {
        e.rethrow_nested();
      } catch (const std::invalid_argument& x) {
        inner = x.what();
      }
    }
    EXPECT_EQ(stage, "validate");
    EXPECT_EQ(inner, "bad item 10");
    EXPECT_EQ(sink_cancelled, 1);
    EXPECT_LT(now_ms(), 1h);
  }());
}

// Property: a monitor shows where the items pile up while the pipeline runs.
TEST(PipelineTest, MonitorShowsTheBottleneckWhileRunning) {
  VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    std::vector<int> input(50, 1);
    auto p = tether::pipeline(input, {.capacity = 5})
                 .stage([](int i) { return i; }, {.name = "fast", .capacity = 5})
                 .stage(
                     [](int i) -> Task<int> {
                       co_await tether::sleep(20ms);
                       co_return i;
                     },
                     {.name = "slow", .capacity = 5});
    auto monitor = p.monitor();
    auto run = tether::spawn(std::move(p).sink([](int) {}));
    co_await tether::sleep(110ms);  // between two completions of "slow" (every 20 ms)
    auto snap = monitor.snapshot();
    CO_ASSERT_TRUE(snap.size() == 4u);
    EXPECT_EQ(snap[2].name, "slow");
    EXPECT_EQ(snap[2].queue_depth, 5u);  // its input is full
    EXPECT_EQ(snap[3].queue_depth, 0u);  // the sink keeps up
    EXPECT_GE(snap[2].items_in, 5u);
    co_await run;
  }());
}

TEST(PipelineTest, OrderedSinkWithSeveralWorkersIsRejected) {
  std::vector<int> input{1};
  EXPECT_THROW((void)tether::pipeline(input).sink([](int) {}, {.parallelism = 2}), tether::Error);
  EXPECT_THROW((void)tether::pipeline(input).stage([](int i) { return i; }, {.capacity = 0}), tether::Error);
}

// Property: on a 2-worker runtime, many items through parallel stages arrive complete and in order.
TEST(PipelineTest, MultiThreadedOrderedThroughput) {
  tether::Runtime rt({.workers = 2});
  const int n = static_cast<int>(tether::test::scaled(20000));
  auto seen = rt.block_on([](int n) -> Task<std::vector<int>> {
    std::vector<int> out;
    co_await tether::pipeline(std::views::iota(0, n), {.capacity = 64})
        .stage([](int i) { return i + 1; }, {.name = "inc", .parallelism = 4, .capacity = 64})
        .stage([](int i) -> Task<int> { co_return i * 2; }, {.name = "dbl", .parallelism = 3, .capacity = 64})
        .sink([&out](int v) { out.push_back(v); });
    co_return out;
  }(n));
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) ASSERT_EQ(seen[i], 2 * (i + 1));
}

}  // namespace

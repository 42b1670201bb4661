// Tests for the runtime's structured log fields (every line a task writes through the runtime
// carries task=<id> task_name="<name>") and for tether/observe/async_log_sink.hpp: the sink
// delivers everything it can, in order per thread; under overload it drops instead of blocking
// the caller, counts every drop, and says so through its targets.
#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/observe/async_log_sink.hpp"
#include "tether/patterns/circuit_breaker.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Task;
namespace observe = tether::observe;

// Runtime::block_on() takes a Task: this awaits a handle from outside the runtime.
template <class T>
Task<T> join(tether::JoinHandle<T> h) {
  co_return co_await h;
}

// A target that records payloads, and can be made to block (a slow disk) until opened.
class GatedSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  void close_gate() {
    std::lock_guard<std::mutex> g(gate_mu_);
    open_ = false;
  }
  void open_gate() {
    {
      std::lock_guard<std::mutex> g(gate_mu_);
      open_ = true;
    }
    gate_cv_.notify_all();
  }
  bool writer_blocked() {
    std::lock_guard<std::mutex> g(gate_mu_);
    return blocked_;
  }
  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> g(lines_mu_);
    return lines_;
  }
  bool contains(const std::string& needle) {
    for (const auto& l : lines())
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    {
      std::unique_lock<std::mutex> g(gate_mu_);
      blocked_ = !open_;
      gate_cv_.wait(g, [&] { return open_; });
      blocked_ = false;
    }
    std::lock_guard<std::mutex> g(lines_mu_);
    lines_.emplace_back(msg.payload.data(), msg.payload.size());
  }
  void flush_() override {}

 private:
  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  bool open_ = true;
  bool blocked_ = false;
  std::mutex lines_mu_;
  std::vector<std::string> lines_;
};

template <class Pred>
bool eventually(Pred pred) {
  auto give_up = std::chrono::steady_clock::now() + 30s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

Task<void> log_from_task(tether::Runtime& rt) {
  rt.core().logger().warn("hello from inside");
  co_return;
}

// A line written through the runtime's logger from a task names the task; from outside, it has
// no task fields.
TEST(TaskLogFieldsTest, LinesFromATaskCarryItsIdAndName) {
  tether::test::LogCapture cap;
  tether::Runtime rt({.workers = 1, .logger = cap.logger});
  auto h = rt.spawn(log_from_task(rt), {.name = "reporter \"one\""});
  std::uint64_t id = h.id();
  rt.block_on(join(std::move(h)));
  rt.core().logger().warn("hello from outside");
  EXPECT_TRUE(cap.contains("task=" + std::to_string(id) + " task_name=\"reporter \\\"one\\\"\" hello from inside"))
      << (cap.lines().empty() ? "" : cap.lines().back());
  bool outside_plain = false;
  for (const auto& l : cap.lines()) {
    outside_plain |= l.find("hello from outside") != std::string::npos && l.find("task=") == std::string::npos;
  }
  EXPECT_TRUE(outside_plain);
}

Task<void> trip(tether::CircuitBreaker& b) {
  for (int i = 0; i < 2; ++i) {
    try {
      co_await b.call([]() -> Task<void> { throw std::runtime_error("down"); });
    } catch (const std::runtime_error&) {
    }
  }
}

// Lines tether itself writes (here: a breaker opening) carry the fields of the task that caused them.
TEST(TaskLogFieldsTest, TetherOwnLinesCarryTheCallingTask) {
  tether::test::LogCapture cap;
  tether::Runtime rt({.workers = 1, .logger = cap.logger});
  tether::CircuitBreaker breaker({.name = "svc", .window_size = 2, .minimum_calls = 2});
  auto h = rt.spawn(trip(breaker), {.name = "caller"});
  std::string fields = "task=" + std::to_string(h.id()) + " task_name=\"caller\"";
  rt.block_on(join(std::move(h)));
  ASSERT_EQ(breaker.state(), tether::CircuitState::kOpen);
  bool found = false;
  for (const auto& l : cap.lines()) found |= l.find(fields) != std::string::npos && l.find("svc") != std::string::npos;
  EXPECT_TRUE(found) << "no breaker line with " << fields;
}

// Several threads log through one sink with room for everything: every line arrives once, and
// each thread's lines arrive in the order it wrote them.
TEST(AsyncLogSinkTest, DeliversEveryLineInOrderPerThreadWhenItFits) {
  const int threads = 4;
  const int per_thread = static_cast<int>(tether::test::scaled(2000));
  auto target = std::make_shared<GatedSink>();
  auto sink = std::make_shared<observe::AsyncLogSink>(std::vector<spdlog::sink_ptr>{target},
                                                      observe::AsyncLogSinkOptions{.capacity = 16384});
  spdlog::logger logger("fits", sink);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) logger.info("{} {}", t, i);
    });
  }
  for (auto& th : ts) th.join();
  sink->close();
  EXPECT_EQ(sink->dropped(), 0u);
  EXPECT_EQ(sink->written(), static_cast<std::uint64_t>(threads * per_thread));
  std::vector<int> next(threads, 0);
  for (const auto& l : target->lines()) {
    int t = 0, i = 0;
    ASSERT_EQ(std::sscanf(l.c_str(), "%d %d", &t, &i), 2) << l;
    ASSERT_EQ(i, next[t]) << "thread " << t << " out of order";
    ++next[t];
  }
  for (int t = 0; t < threads; ++t) EXPECT_EQ(next[t], per_thread);
}

// Overload: the target is stuck, several threads keep logging. Every logging call returns
// (the threads finish while the target is still stuck), the overflow is dropped and counted, and
// everything is accounted for: written + dropped == logged. The drop is reported through the
// target, at close.
TEST(AsyncLogSinkTest, DropsAndCountsUnderOverloadWithoutBlocking) {
  const int threads = 4;
  const int per_thread = static_cast<int>(tether::test::scaled(5000));
  auto target = std::make_shared<GatedSink>();
  target->close_gate();
  auto sink = std::make_shared<observe::AsyncLogSink>(
      std::vector<spdlog::sink_ptr>{target}, observe::AsyncLogSinkOptions{.capacity = 8, .report_interval = 1h});
  spdlog::logger logger("overload", sink);
  logger.info("first");  // the writer takes it and blocks in the target
  ASSERT_TRUE(eventually([&] { return target->writer_blocked(); }));

  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) logger.info("line {}", i);
    });
  }
  for (auto& th : ts) th.join();  // would hang here if logging blocked on the stuck target
  EXPECT_TRUE(target->writer_blocked());
  const std::uint64_t logged = 1 + threads * per_thread;
  EXPECT_GE(sink->dropped(), logged - 1 - sink->capacity());

  target->open_gate();
  sink->close();
  EXPECT_EQ(sink->written() + sink->dropped(), logged);
  EXPECT_EQ(sink->written(), 1 + sink->capacity());
  EXPECT_TRUE(target->contains("async log sink dropped " + std::to_string(sink->dropped()) + " line(s)"));
  EXPECT_TRUE(target->contains("at close"));
}

// While drops continue, the writer reports them without waiting for close.
TEST(AsyncLogSinkTest, ReportsDropsPeriodically) {
  auto target = std::make_shared<GatedSink>();
  target->close_gate();
  auto sink = std::make_shared<observe::AsyncLogSink>(
      std::vector<spdlog::sink_ptr>{target}, observe::AsyncLogSinkOptions{.capacity = 2, .report_interval = 1ms});
  spdlog::logger logger("periodic", sink);
  logger.info("first");
  ASSERT_TRUE(eventually([&] { return target->writer_blocked(); }));
  for (int i = 0; i < 10; ++i) logger.info("x {}", i);
  EXPECT_EQ(sink->dropped(), 8u);
  target->open_gate();
  EXPECT_TRUE(
      eventually([&] { return target->contains("async log sink dropped 8 line(s) under overload (8 in total)"); }));
  sink->close();
  EXPECT_FALSE(target->contains("at close"));  // nothing new to report
}

Task<void> chatty(tether::Runtime& rt, int n) {
  for (int i = 0; i < n; ++i) rt.core().logger().info("chat {}", i);
  co_return;
}

// The runtime logging through an async sink: lines from many tasks on several workers arrive with
// their task fields, and logging never made a worker wait.
TEST(AsyncLogSinkTest, RuntimeLogsThroughTheSinkWithTaskFields) {
  auto target = std::make_shared<GatedSink>();
  auto logger = observe::make_async_logger("rt", {target}, {.capacity = 1 << 16});
  auto* sink = static_cast<observe::AsyncLogSink*>(logger->sinks()[0].get());
  {
    tether::Runtime rt({.workers = 2, .logger = logger});
    std::vector<tether::JoinHandle<void>> hs;
    for (int t = 0; t < 4; ++t) hs.push_back(rt.spawn(chatty(rt, 50), {.name = "chatty"}));
    for (auto& h : hs) rt.block_on(join(std::move(h)));
  }
  sink->close();
  EXPECT_EQ(sink->dropped(), 0u);
  int with_fields = 0;
  for (const auto& l : target->lines()) with_fields += l.find("task_name=\"chatty\" chat ") != std::string::npos;
  EXPECT_EQ(with_fields, 200);
}

}  // namespace

// Tests for tether/observe/watchdog.hpp: a task that blocks its worker is reported once, with its
// async backtrace; a task that waits with no deadline is reported as possibly hung (virtual time),
// and tasks with a deadline or on a sleep are not.
#include "tether/observe/watchdog.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "tether/channel/mpsc.hpp"
#include "tether/core/runtime.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/deadline.hpp"
#include "tether/time/sleep.hpp"
#include "tether/time/timeout.hpp"

namespace {

using namespace std::chrono_literals;
using tether::JoinHandle;
using tether::Task;
using tether::observe::TaskState;
using tether::observe::Watchdog;
using tether::observe::WatchdogReport;

// Blocks its worker (the mistake under test) twice, with a suspension on `rx` in between.
Task<int> blocking_leaf(tether::mpsc::Receiver<int>& rx) {
  std::this_thread::sleep_for(300ms);  // a blocking call on a worker
  std::optional<int> v = co_await rx.recv();
  std::this_thread::sleep_for(300ms);  // and again: still one report for this task
  co_return v.value_or(0);
}
Task<int> blocking_root(tether::mpsc::Receiver<int> rx) {
  int v = co_await blocking_leaf(rx);
  co_return v;
}

Task<int> await_int(JoinHandle<int> h) {
  int v = co_await h;
  co_return v;
}

bool has_frame(const tether::observe::TaskSnapshot& t, const std::string& fn) {
  for (const auto& f : t.backtrace) {
    if (f.function.find(fn) != std::string::npos) return true;
  }
  return false;
}

// Property: driven by hand, the watchdog reports a task that holds its worker past the threshold
// exactly once (though it blocks twice and is checked many times), as blocking, with its name and
// the async backtrace of its next suspension.
TEST(WatchdogTest, ReportsBlockingTaskOnceWithItsBacktrace) {
  tether::Runtime rt({.workers = 2, .watchdog = {.enabled = false}});
  Watchdog wd(rt, {.blocking_threshold = 50ms, .hung_threshold = 0ms}, /*start_thread=*/false);
  auto [tx, rx] = tether::mpsc::channel<int>(1);
  JoinHandle<int> h = rt.spawn(blocking_root(std::move(rx)), {.name = "blocker"});
  std::uint64_t id = h.id();

  std::vector<WatchdogReport> reports;
  auto give_up = std::chrono::steady_clock::now() + 30s;
  while (reports.empty() && std::chrono::steady_clock::now() < give_up) {
    for (WatchdogReport& r : wd.check()) reports.push_back(std::move(r));
    std::this_thread::sleep_for(5ms);  // the sampling period of a hand-driven watchdog
  }
  ASSERT_EQ(reports.size(), 1u);
  const WatchdogReport& r = reports[0];
  EXPECT_EQ(r.kind, WatchdogReport::Kind::kBlocking);
  EXPECT_EQ(r.task.id, id);
  EXPECT_EQ(r.task.name, "blocker");
  EXPECT_GE(r.duration, 50ms);
  EXPECT_GE(r.thread, 0);
  // Reported at its next suspension, on the channel, with the frames that led there.
  EXPECT_EQ(r.task.state, TaskState::kWaiting);
  EXPECT_EQ(r.task.waiting_on, "recv");
  EXPECT_TRUE(has_frame(r.task, "blocking_root")) << r.to_string();
  EXPECT_TRUE(has_frame(r.task, "blocking_leaf")) << r.to_string();
  EXPECT_NE(r.to_string().find("blocked thread"), std::string::npos) << r.to_string();

  // Let it block again until it completes, checking all the while: no second report.
  ASSERT_TRUE(tx.try_send(5).has_value());
  while (!h.is_finished()) {
    for (WatchdogReport& more : wd.check()) reports.push_back(std::move(more));
    std::this_thread::sleep_for(5ms);
  }
  for (WatchdogReport& more : wd.check()) reports.push_back(std::move(more));
  EXPECT_EQ(reports.size(), 1u);
  EXPECT_EQ(rt.block_on(await_int(std::move(h))), 5);
}

Task<> block_once() {
  std::this_thread::sleep_for(300ms);  // a blocking call on a worker
  co_return;
}

// Property: the watchdog every Runtime starts by default reports a blocking task from its own
// monitor thread, logs it at warn level, and calls on_report once.
TEST(WatchdogTest, RuntimeWatchdogReportsThroughLogAndCallback) {
  tether::test::LogCapture log;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<WatchdogReport> reports;
  {
    tether::Runtime rt({.workers = 2,
                        .watchdog = {.blocking_threshold = 50ms,
                                     .on_report =
                                         [&](const WatchdogReport& r) {
                                           std::lock_guard<std::mutex> g(mu);
                                           reports.push_back(r);
                                           cv.notify_all();
                                         }},
                        .logger = log.logger});
    JoinHandle<void> h = rt.spawn(block_once(), {.name = "sleepy"});
    std::unique_lock<std::mutex> lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 30s, [&] { return !reports.empty(); }));
    EXPECT_EQ(reports[0].kind, WatchdogReport::Kind::kBlocking);
    EXPECT_EQ(reports[0].task.name, "sleepy");
  }  // the runtime stops its watchdog before anything else
  EXPECT_EQ(reports.size(), 1u);
  bool warned = false;
  for (const std::string& line : log.lines()) {
    if (line.rfind("warn", 0) == 0 && line.find("watchdog: task blocked") != std::string::npos) warned = true;
  }
  EXPECT_TRUE(warned) << "logged at warn level";
  EXPECT_TRUE(log.contains("'sleepy'"));
}

Task<> wait_forever(tether::mpsc::Receiver<int>& rx) { (void)co_await rx.recv(); }
Task<> hung_root(tether::mpsc::Receiver<int> rx) { co_await wait_forever(rx); }

Task<> wait_with_deadline(tether::mpsc::Receiver<int> rx) {
  // Waiting forever on purpose is spelled out: not a hang.
  auto recv = rx.recv();
  Task<std::optional<int>> bounded = tether::timeout_at(tether::Deadline::never(), std::move(recv));
  (void)co_await std::move(bounded);
}

Task<> long_sleep() { co_await tether::sleep(10h); }

Task<std::vector<WatchdogReport>> scenario(Watchdog& wd, tether::mpsc::Receiver<int> rx1,
                                           tether::mpsc::Receiver<int> rx2) {
  JoinHandle<void> hung = tether::spawn(hung_root(std::move(rx1)), {.name = "stuck"});
  JoinHandle<void> bounded = tether::spawn(wait_with_deadline(std::move(rx2)), {.name = "bounded"});
  JoinHandle<void> sleeper = tether::spawn(long_sleep(), {.name = "sleeper"});
  co_await tether::sleep(10ms);  // everyone reaches their wait
  std::vector<WatchdogReport> all = wd.check();
  EXPECT_TRUE(all.empty());
  co_await tether::sleep(30s);  // not yet past the threshold
  EXPECT_TRUE(wd.check().empty());
  co_await tether::sleep(90s);  // now past it
  std::vector<WatchdogReport> found = wd.check();
  co_await tether::sleep(120s);  // and again: nothing new
  EXPECT_TRUE(wd.check().empty());
  hung.abort();
  bounded.abort();
  sleeper.abort();
  co_return found;
}

// Property: in virtual time, a task that waits past the hung threshold on a channel with no
// deadline is reported once as possibly hung, with its frames; a wait under a timeout scope and a
// sleep are not.
TEST(WatchdogTest, ReportsTaskWaitingWithoutDeadlineAsHung) {
  tether::testing::VirtualRuntime rt;
  Watchdog wd(rt, {.blocking_threshold = 0ms, .hung_threshold = 60s}, /*start_thread=*/false);
  auto [tx1, rx1] = tether::mpsc::channel<int>(1);
  auto [tx2, rx2] = tether::mpsc::channel<int>(1);
  std::vector<WatchdogReport> found = rt.block_on(scenario(wd, std::move(rx1), std::move(rx2)));
  ASSERT_EQ(found.size(), 1u);
  const WatchdogReport& r = found[0];
  EXPECT_EQ(r.kind, WatchdogReport::Kind::kHung);
  EXPECT_EQ(r.task.name, "stuck");
  EXPECT_EQ(r.task.waiting_on, "recv");
  EXPECT_GE(r.duration, 60s);
  EXPECT_TRUE(has_frame(r.task, "hung_root")) << r.to_string();
  EXPECT_TRUE(has_frame(r.task, "wait_forever")) << r.to_string();
  EXPECT_NE(r.to_string().find("no deadline"), std::string::npos);
}

}  // namespace

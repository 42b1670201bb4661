// Tests for tether/observe/task_dump.hpp: what a dump says about tasks blocked on a channel, a
// mutex, a sleep and a join, including the coroutine frames between each root and its leaf.
#include "tether/observe/task_dump.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "tether/channel/mpsc.hpp"
#include "tether/core/runtime.hpp"
#include "tether/observe/dump_on_signal.hpp"
#include "tether/sync/mutex.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::JoinHandle;
using tether::Task;
using tether::observe::TaskDump;
using tether::observe::TaskSnapshot;
using tether::observe::TaskState;

// Named coroutines (three levels each), so that the frames have names to look for.
Task<int> recv_leaf(tether::mpsc::Receiver<int>& rx) {
  std::optional<int> v = co_await rx.recv();
  co_return v.value_or(0);
}
Task<int> recv_middle(tether::mpsc::Receiver<int>& rx) {
  int v = co_await recv_leaf(rx);
  co_return v;
}
Task<int> recv_root(tether::mpsc::Receiver<int> rx) {
  int v = co_await recv_middle(rx);
  co_return v;
}

Task<> lock_leaf(tether::sync::Mutex<int>& m) {
  co_await m.with([](int& v) { ++v; });
}
Task<> lock_middle(tether::sync::Mutex<int>& m) { co_await lock_leaf(m); }
Task<> lock_root(tether::sync::Mutex<int>& m) { co_await lock_middle(m); }

Task<> sleep_leaf() { co_await tether::sleep(1h); }
Task<> sleep_middle() { co_await sleep_leaf(); }
Task<> sleep_root() { co_await sleep_middle(); }

Task<int> join_leaf(JoinHandle<int>& h) {
  int v = co_await h;
  co_return v;
}
Task<int> join_root(JoinHandle<int> h) {
  int v = co_await join_leaf(h);
  co_return v;
}

Task<int> await_int(JoinHandle<int> h) {
  int v = co_await h;
  co_return v;
}
Task<> await_void(JoinHandle<void> h) { co_await h; }

// Polls cheap (unsymbolised) dumps until every task in `ids` waits on what `what` says.
bool wait_until_waiting(tether::Runtime& rt, const std::vector<std::pair<std::uint64_t, std::string>>& expected) {
  auto give_up = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < give_up) {
    TaskDump d = tether::observe::dump_tasks(rt, {.symbolize = false});
    bool all = true;
    for (const auto& [id, what] : expected) {
      const TaskSnapshot* t = d.find(id);
      if (!t || t->state != TaskState::kWaiting || t->waiting_on != what) all = false;
    }
    if (all) return true;
    std::this_thread::sleep_for(1ms);  // polling for an observed state, not waiting for luck
  }
  return false;
}

// The function names of a snapshot's frames, root first.
std::vector<std::string> names(const TaskSnapshot& t) {
  std::vector<std::string> out;
  for (const auto& f : t.backtrace) out.push_back(f.function);
  return out;
}

::testing::AssertionResult frames_are(const TaskSnapshot& t, const std::vector<std::string>& expected) {
  std::vector<std::string> got = names(t);
  std::string all;
  for (const auto& n : got) all += "\n  " + n;
  if (got.size() != expected.size()) {
    return ::testing::AssertionFailure() << "expected " << expected.size() << " frames, got:" << all;
  }
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i].find(expected[i]) == std::string::npos) {
      return ::testing::AssertionFailure() << "frame " << i << " is not " << expected[i] << ":" << all;
    }
  }
  return ::testing::AssertionSuccess();
}

// Property: a dump of tasks blocked on a channel, a mutex, a sleep and a join gives each one's
// state and what it waits on, and its async backtrace from the root through the middle frames to
// the leaf, named by function.
TEST(TaskDumpTest, NamesEachBlockedTaskAndItsFramesFromRootToLeaf) {
  tether::sync::Mutex<int> m(0);
  std::optional<tether::sync::Mutex<int>::Guard> held = m.try_lock();  // held outside any task
  ASSERT_TRUE(held.has_value());
  tether::Runtime rt({.workers = 2, .watchdog = {.enabled = false}});

  auto [tx, rx] = tether::mpsc::channel<int>(1);
  JoinHandle<int> receiver = rt.spawn(recv_root(std::move(rx)), {.name = "receiver"});
  JoinHandle<void> locker = rt.spawn(lock_root(m), {.name = "locker"});
  JoinHandle<void> sleeper = rt.spawn(sleep_root(), {.name = "sleeper"});
  std::uint64_t receiver_id = receiver.id();
  JoinHandle<int> joiner = rt.spawn(join_root(std::move(receiver)), {.name = "joiner"});

  ASSERT_TRUE(wait_until_waiting(
      rt, {{receiver_id, "recv"}, {locker.id(), "mutex"}, {sleeper.id(), "sleep"}, {joiner.id(), "join"}}));
  TaskDump dump = tether::observe::dump_tasks(rt);
  ASSERT_EQ(dump.tasks.size(), 4u) << dump.to_string();

  const TaskSnapshot* r = dump.find(receiver_id);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->name, "receiver");
  EXPECT_TRUE(frames_are(*r, {"recv_root", "recv_middle", "recv_leaf"}));
  EXPECT_TRUE(frames_are(*dump.find(locker.id()), {"lock_root", "lock_middle", "lock_leaf"}));
  EXPECT_TRUE(frames_are(*dump.find(sleeper.id()), {"sleep_root", "sleep_middle", "sleep_leaf"}));
  EXPECT_TRUE(frames_are(*dump.find(joiner.id()), {"join_root", "join_leaf"}));
  EXPECT_EQ(dump.find(joiner.id())->waiting_on, "join");
  EXPECT_FALSE(dump.find(sleeper.id())->has_deadline);

  // The text form names the state, the wait and each frame, leaf marked.
  std::string text = dump.to_string();
  if (std::getenv("TETHER_SHOW_DUMP")) std::printf("%s\n", text.c_str());
  EXPECT_NE(text.find("'locker'"), std::string::npos) << text;
  EXPECT_NE(text.find("waiting on mutex"), std::string::npos) << text;
  EXPECT_NE(text.find("recv_middle"), std::string::npos) << text;
  EXPECT_NE(text.find("<- recv"), std::string::npos) << text;
  EXPECT_NE(text.find("dump_test.cpp:"), std::string::npos) << "file:line from debug info\n" << text;

  // Dumping did not disturb them: each still completes normally once released.
  held.reset();
  ASSERT_TRUE(tx.try_send(7).has_value());
  EXPECT_EQ(rt.block_on(await_int(std::move(joiner))), 7);
  rt.block_on(await_void(std::move(locker)));
  EXPECT_EQ(m.get_unsynchronized(), 1);
}

Task<> spin_until(std::atomic<bool>& stop, std::atomic<bool>& started) {
  started.store(true);
  while (!stop.load()) std::this_thread::yield();  // deliberately holds its worker
  co_return;
}

// Property: a task that is running is reported as running (with its thread) and its frames are not
// read, while the dump completes.
TEST(TaskDumpTest, RunningTaskIsReportedWithoutFrames) {
  tether::Runtime rt({.workers = 2, .watchdog = {.enabled = false}});
  std::atomic<bool> stop{false}, started{false};
  JoinHandle<void> h = rt.spawn(spin_until(stop, started), {.name = "spinner"});
  while (!started.load()) std::this_thread::yield();
  TaskDump dump = tether::observe::dump_tasks(rt);
  const TaskSnapshot* t = dump.find(h.id());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->state, TaskState::kRunning);
  EXPECT_GE(t->thread, 0);
  EXPECT_TRUE(t->backtrace.empty());
  EXPECT_NE(t->to_string().find("running on thread"), std::string::npos);
  stop.store(true);
  rt.block_on(await_void(std::move(h)));
}

Task<> echo(tether::mpsc::Receiver<int> rx, tether::mpsc::Sender<int> tx) {
  for (;;) {
    std::optional<int> v = co_await rx.recv();
    if (!v) break;
    auto sent = co_await tx.send(*v + 1);
    if (!sent.has_value()) break;
  }
}

Task<int> drive(tether::mpsc::Sender<int> tx, tether::mpsc::Receiver<int> rx, int rounds) {
  int v = 0;
  for (int i = 0; i < rounds; ++i) {
    auto sent = co_await tx.send(v);
    if (!sent.has_value()) break;
    std::optional<int> back = co_await rx.recv();
    if (!back) break;
    v = *back;
  }
  co_return v;
}

// Property: dumps taken from another thread while tasks ping-pong at full speed never disturb them
// (no lost wake-up, no torn frame walk; TSan checks the claim's ordering).
TEST(TaskDumpTest, ConcurrentDumpsWhileTasksPingPong) {
  tether::Runtime rt({.workers = 2, .watchdog = {.enabled = false}});
  auto [tx1, rx1] = tether::mpsc::channel<int>(1);
  auto [tx2, rx2] = tether::mpsc::channel<int>(1);
  JoinHandle<void> a = rt.spawn(echo(std::move(rx1), std::move(tx2)), {.name = "echo"});
  std::atomic<bool> done{false};
  std::atomic<int> dumps{0};
  std::thread dumper([&] {
    while (!done.load()) {
      (void)tether::observe::dump_tasks(rt, {.symbolize = false});
      dumps.fetch_add(1);
    }
  });
  const int rounds = static_cast<int>(tether::test::scaled(20000));
  int last = rt.block_on(drive(std::move(tx1), std::move(rx2), rounds));
  done.store(true);
  dumper.join();
  EXPECT_EQ(last, rounds);
  EXPECT_GT(dumps.load(), 0);
  rt.block_on(await_void(std::move(a)));  // the driver's sender is gone: echo ends
}

// Property: with DumpOnSignal alive, a delivery of its signal produces one dump (taken on the
// blocking pool) that lists the program's tasks.
TEST(TaskDumpTest, DumpOnSignalDeliversADump) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<TaskDump> dumps;
  tether::Runtime rt({.workers = 2, .watchdog = {.enabled = false}});
  // This thread waits in a condition variable; the workers, started above with the signal
  // unblocked, take it.
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &usr2, nullptr);
  {
    JoinHandle<void> sleeper = rt.spawn(sleep_root(), {.name = "sleeper"});
    tether::observe::DumpOnSignal on_usr2(rt, SIGUSR2, [&](const TaskDump& d) {
      std::lock_guard<std::mutex> g(mu);
      dumps.push_back(d);
      cv.notify_all();
    });
    ASSERT_TRUE(wait_until_waiting(rt, {{sleeper.id(), "sleep"}}));
    ::kill(::getpid(), SIGUSR2);
    std::unique_lock<std::mutex> lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 30s, [&] { return !dumps.empty(); }));
    const TaskSnapshot* s = dumps[0].find(sleeper.id());
    ASSERT_NE(s, nullptr);
    EXPECT_TRUE(frames_are(*s, {"sleep_root", "sleep_middle", "sleep_leaf"}));
    EXPECT_NE(dumps[0].to_string().find("dump-on-signal"), std::string::npos) << "the listener lists itself";
  }
  pthread_sigmask(SIG_UNBLOCK, &usr2, nullptr);
}

}  // namespace

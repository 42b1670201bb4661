// Subprocesses: output, environment, pipes, and no child left behind on timeout or cancellation.
#include "tether/io/process.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>

#include "io_test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/io/error.hpp"
#include "tether/time/sleep.hpp"

using namespace std::chrono_literals;
using tether::Deadline;
using tether::Task;
namespace io = tether::io;

namespace {

class ProcessTest : public tether::test::IoBackendTest {};
TETHER_IO_BACKENDS(ProcessTest);

// True if `pid` is gone: not our child any more (reaped) and not in /proc as a zombie.
bool fully_reaped(pid_t pid) {
  errno = 0;
  int st;
  bool not_child = ::waitpid(pid, &st, WNOHANG) == -1 && errno == ECHILD;
  return not_child && !std::filesystem::exists("/proc/" + std::to_string(pid));
}

TEST_P(ProcessTest, RunCapturesOutputAndExitCode) {
  tether::Runtime rt(options());
  auto out =
      rt.block_on(io::run({.program = "sh", .args = {"-c", "echo out; echo err >&2; exit 3"}}, Deadline::after(10s)));
  EXPECT_EQ(out.status.code, 3);
  EXPECT_FALSE(out.status.success());
  EXPECT_EQ(out.out, "out\n");
  EXPECT_EQ(out.err, "err\n");
}

TEST_P(ProcessTest, EnvironmentAndWorkingDirectory) {
  tether::Runtime rt(options());
  auto out = rt.block_on(io::run(
      {.program = "sh", .args = {"-c", "echo $TETHER_X; pwd"}, .env = {{"TETHER_X", "forty-two"}}, .cwd = "/tmp"},
      Deadline::after(10s)));
  EXPECT_EQ(out.out, "forty-two\n/tmp\n");
}

// Property: stdin and stdout are async pipes; closing stdin ends the child's input.
TEST_P(ProcessTest, PipesToAndFromChild) {
  tether::Runtime rt(options());
  rt.block_on([]() -> Task<void> {
    io::Child c = io::spawn({.program = "cat", .in = io::Stdio::kPipe, .out = io::Stdio::kPipe});
    co_await c.in->write_all("through cat", Deadline::after(5s));
    c.in->close();
    std::string got = co_await c.out->read_to_end(Deadline::after(5s));
    EXPECT_EQ(got, "through cat");
    auto st = co_await c.wait(Deadline::after(5s));
    EXPECT_TRUE(st.success());
  }());
}

// Property: a child that hangs is killed when the wait's deadline passes, and reaped: no zombie.
TEST_P(ProcessTest, HangingChildIsKilledAtTimeoutAndReaped) {
  tether::Runtime rt(options());
  pid_t pid = rt.block_on([]() -> Task<pid_t> {
    io::Child c = io::spawn({.program = "sleep", .args = {"100"}});
    pid_t pid = c.pid();
    auto t0 = std::chrono::steady_clock::now();
    try {
      co_await c.wait(Deadline::after(150ms));
      ADD_FAILURE() << "sleep 100 exited";
    } catch (const tether::TimedOut& e) {
      EXPECT_EQ(std::string(e.what()), "timed out: wait for pid " + std::to_string(pid) + " (sleep)");
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    EXPECT_TRUE(c.reaped());
    co_return pid;
  }());
  EXPECT_TRUE(fully_reaped(pid));
}

// Property: cancelling the task that waits for a child kills and reaps the child.
TEST_P(ProcessTest, CancelledWaitKillsAndReapsChild) {
  tether::Runtime rt(options());
  pid_t pid = rt.block_on([]() -> Task<pid_t> {
    struct W {
      static Task<void> run(std::atomic<pid_t>* pid) {
        io::Child c = io::spawn({.program = "sleep", .args = {"100"}});
        pid->store(c.pid(), std::memory_order_release);  // release: pairs with the acquire below
        co_await c.wait(Deadline::never());
      }
    };
    std::atomic<pid_t> pid{0};
    auto h = tether::spawn(W::run(&pid));
    while (pid.load(std::memory_order_acquire) == 0) co_await tether::sleep(1ms);
    co_await tether::sleep(20ms);
    h.abort();
    EXPECT_THROW(co_await h, tether::Cancelled);
    co_return pid.load(std::memory_order_acquire);
  }());
  EXPECT_TRUE(fully_reaped(pid));
}

TEST_P(ProcessTest, MissingProgramIsNotFound) {
  tether::Runtime rt(options());
  rt.block_on([]() -> Task<void> {
    try {
      io::spawn({.program = "/nonexistent/tether-no-such-program"});
      ADD_FAILURE();
    } catch (const io::Error& e) {
      EXPECT_EQ(e.kind(), io::ErrorKind::kNotFound) << e.what();
    }
    co_return;
  }());
}

// Property: destroying a Child that was never waited for leaves no zombie.
TEST_P(ProcessTest, DroppedChildIsReaped) {
  tether::Runtime rt(options());
  pid_t pid = rt.block_on([]() -> Task<pid_t> {
    io::Child c = io::spawn({.program = "sleep", .args = {"100"}});
    co_return c.pid();
  }());
  EXPECT_TRUE(fully_reaped(pid));
}

}  // namespace

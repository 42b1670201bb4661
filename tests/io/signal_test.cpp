// Signals: awaiting a signal, and SIGTERM shutting a real program down gracefully.
#include "tether/io/signal.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "io_test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/io/process.hpp"

using namespace std::chrono_literals;
using tether::Deadline;
using tether::Task;
namespace io = tether::io;

namespace {

class SignalTest : public tether::test::IoBackendTest {};
TETHER_IO_BACKENDS(SignalTest);

// Property: a delivered signal wakes recv() with its number; with none pending, recv times out.
TEST_P(SignalTest, RecvReturnsDeliveredSignal) {
  tether::Runtime rt(options());
  // This thread waits in block_on; let the workers (started above, unblocked) take the signals.
  // (Under TSan a handler is deferred while its thread sits in a raw futex wait.)
  sigset_t usr, saved;
  sigemptyset(&usr);
  sigaddset(&usr, SIGUSR1);
  sigaddset(&usr, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &usr, &saved);
  rt.block_on([]() -> Task<void> {
    io::Signals sigs({SIGUSR1, SIGUSR2});
    ::kill(::getpid(), SIGUSR2);
    EXPECT_EQ(co_await sigs.recv(Deadline::after(5s)), SIGUSR2);
    EXPECT_THROW(co_await sigs.recv(Deadline::after(50ms)), tether::TimedOut);
    ::kill(::getpid(), SIGUSR1);
    EXPECT_EQ(co_await sigs.recv(Deadline::after(5s)), SIGUSR1);
  }());
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
}

std::filesystem::path example(const char* name) {
  return std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path() / "examples" / name;
}

// Property: SIGTERM sent to a running program (examples/io/graceful_shutdown.cpp) makes it shut
// down gracefully: its in-flight jobs finish and it exits 0.
TEST_P(SignalTest, SigtermShutsProgramDownGracefully) {
  auto bin = example("example_io_graceful_shutdown");
  if (!std::filesystem::exists(bin)) GTEST_SKIP() << "examples not built: " << bin;
  tether::Runtime rt(options());
  rt.block_on([](std::string bin) -> Task<void> {
    io::Child c = io::spawn({.program = bin, .args = {"--wait"}, .out = io::Stdio::kPipe, .err = io::Stdio::kNull});
    std::string out;
    char buf[256];
    while (out.find("ready\n") == std::string::npos) {
      std::size_t n = co_await c.out->read(buf, Deadline::after(20s));
      if (n == 0) break;
      out.append(buf, n);
    }
    EXPECT_NE(out.find("ready\n"), std::string::npos) << out;
    c.signal(SIGTERM);
    out += co_await c.out->read_to_end(Deadline::after(20s));
    auto st = co_await c.wait(Deadline::after(20s));
    EXPECT_EQ(st.code, 0) << out;
    EXPECT_NE(out.find("shut down: 3/3 in-flight jobs finished"), std::string::npos) << out;
  }(bin.string()));
}

}  // namespace

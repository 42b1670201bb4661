// The io_uring backend itself: that it is the one running where the kernel allows it (so the
// parameterised I/O suite really exercises it), and the multishot-poll cases epoll does not have.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/yield.hpp"
#include "tether/io/net/unix_stream.hpp"
#include "tether/time/deadline.hpp"

namespace {

using tether::IoBackend;
using tether::Task;
namespace io = tether::io;

// Skips the test where the kernel (or a sandbox) refuses io_uring; the fall-back is tested below.
#define SKIP_WITHOUT_IO_URING(rt)               \
  if ((rt).io_backend() != IoBackend::kIoUring) \
  GTEST_SKIP() << "io_uring refused here, "     \
                  "the runtime runs epoll"

// Property: a runtime that asks for io_uring gets it, and a thousand round trips between two tasks
// on different workers all arrive, in order.
TEST(IoUringTest, CarriesTrafficBetweenWorkers) {
  tether::Runtime rt({.workers = 2, .io_backend = IoBackend::kIoUring});
  SKIP_WITHOUT_IO_URING(rt);
  rt.block_on([]() -> Task<void> {
    auto [a, b] = io::UnixStream::pair();
    auto echo = tether::spawn([](io::UnixStream s) -> Task<void> {
      char c;
      while (co_await s.read(io::MutableBuffer(&c, 1)) == 1) co_await s.write_all(io::ConstBuffer(&c, 1));
    }(std::move(b)));
    for (int i = 0; i < 1000; ++i) {
      char out = static_cast<char>('a' + i % 26);
      co_await a.write_all(io::ConstBuffer(&out, 1));
      char in = 0;
      co_await a.read_exact(io::MutableBuffer(&in, 1));
      if (in != out) {
        ADD_FAILURE() << "round trip " << i << ": sent " << out << ", got " << in;
        break;
      }
    }
    a.shutdown();
    co_await echo;
  }());
}

// Property: io_uring ends a thread's poll requests when that thread exits; a registration made on
// a thread that has since exited is re-armed and still delivers readiness (registration.cpp step 7).
TEST(IoUringTest, RegistrationOutlivesTheThreadThatMadeIt) {
  tether::Runtime rt({.flavor = tether::Flavor::kCurrentThread, .io_backend = IoBackend::kIoUring});
  SKIP_WITHOUT_IO_URING(rt);
  std::optional<std::pair<io::UnixStream, io::UnixStream>> ends;
  std::thread([&] {
    ends.emplace(
        rt.block_on([]() -> Task<std::pair<io::UnixStream, io::UnixStream>> { co_return io::UnixStream::pair(); }()));
  }).join();
  rt.block_on([](io::UnixStream& a, io::UnixStream& b) -> Task<void> {
    // The reader waits first, so only a readiness event can wake it.
    auto reader = tether::spawn([](io::UnixStream* b) -> Task<char> {
      char c = 0;
      co_await b->read_exact(io::MutableBuffer(&c, 1), tether::Deadline::after(std::chrono::seconds(30)));
      co_return c;
    }(&b));
    co_await tether::yield_now();
    co_await a.write_all(io::ConstBuffer("z", 1));
    EXPECT_EQ(co_await reader, 'z');
  }(ends->first, ends->second));
}

}  // namespace

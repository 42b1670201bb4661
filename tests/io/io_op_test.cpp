// IoOp: the awaitable of every stream read and write: what happens around its waits and yields,
// and its conversion to a Task; each against both backends.
#include "tether/io/io_op.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "io_test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/yield.hpp"
#include "tether/io/net/tcp_listener.hpp"
#include "tether/io/net/tcp_stream.hpp"
#include "tether/io/pipe.hpp"
#include "tether/time/sleep.hpp"
#include "tether/time/timeout.hpp"

using namespace std::chrono_literals;
using tether::Deadline;
using tether::Task;
using tether::io::SocketAddress;
using tether::io::TcpListener;
using tether::io::TcpStream;

namespace {

class IoOpTest : public tether::test::IoBackendTest {};
TETHER_IO_BACKENDS(IoOpTest);

// Property: a read that took bytes returns them even when the task is aborted during the
// cooperative yield that follows it (its budget was spent); the abort is seen at the next
// suspension instead. One thread, so the abort lands exactly in that yield.
TEST_P(IoOpTest, ReadAbortedInItsBudgetYieldStillReturnsItsBytes) {
  tether::Runtime rt({.flavor = tether::Flavor::kCurrentThread, .io_backend = GetParam()});
  rt.block_on([]() -> Task<void> {
    auto l = TcpListener::bind(SocketAddress::loopback_v4(0));
    TcpStream c = co_await TcpStream::connect(l.local_address(), Deadline::after(5s));
    TcpStream s = co_await l.accept(Deadline::after(5s));
    co_await s.write_all("0123456789");
    bool about_to_read = false;
    std::string got;
    bool cancelled_after = false;
    auto reader =
        tether::spawn([](TcpStream* c, bool* about_to_read, std::string* got, bool* cancelled_after) -> Task<void> {
          char head[5];
          co_await c->read_exact(head);  // the rest stays queued: the next read completes at once
          while (tether::detail::consume_budget()) {
          }
          *about_to_read = true;
          char tail[5];
          std::size_t n = co_await c->read(tail);  // completes, then yields: the budget is spent
          *got = std::string(head, 5) + std::string(tail, n);
          try {
            co_await tether::yield_now();
          } catch (const tether::Cancelled&) {
            *cancelled_after = true;
          }
        }(&c, &about_to_read, &got, &cancelled_after));
    while (!about_to_read) co_await tether::yield_now();
    reader.abort();  // the reader is in its budget yield now
    co_await reader;
    EXPECT_EQ(got, "0123456789");
    EXPECT_TRUE(cancelled_after);
  }());
}

// Property: an operation kept as a Task (to pass to timeout(), select(), spawn()) runs when that
// task is awaited, not before, and moves the same bytes.
TEST_P(IoOpTest, OperationKeptAsATaskRunsWhenAwaited) {
  tether::Runtime rt(options());
  rt.block_on([]() -> Task<void> {
    auto l = TcpListener::bind(SocketAddress::loopback_v4(0));
    TcpStream c = co_await TcpStream::connect(l.local_address(), Deadline::after(5s));
    TcpStream s = co_await l.accept(Deadline::after(5s));
    Task<void> write = s.write_all("ping");
    char buf[8];
    Task<std::size_t> read = c.read(buf, Deadline::after(5s));
    bool nothing_sent_yet = false;
    try {
      co_await tether::timeout(20ms, c.read(buf), "early read");
    } catch (const tether::TimedOut&) {
      nothing_sent_yet = true;
    }
    EXPECT_TRUE(nothing_sent_yet);
    co_await std::move(write);
    std::size_t n = co_await std::move(read);
    EXPECT_EQ(std::string(buf, n), "ping");
  }());
}

// Property: a read woken by an edge whose bytes are already gone (here another reader of the pipe
// took them) waits again instead of returning: it returns the bytes that come next, never 0 (end
// of stream) or an error. One thread, so the byte is taken before the driver reports the edge.
// (io_uring's poll reports that edge; epoll checks readiness again when it hands events out and
// drops it, so there the read just keeps waiting: the same outcome by another path.)
TEST_P(IoOpTest, ReadWokenForBytesAlreadyGoneWaitsAgain) {
  tether::Runtime rt({.flavor = tether::Flavor::kCurrentThread, .io_backend = GetParam()});
  rt.block_on([]() -> Task<void> {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    const int raw_read_end = fds[0];
    tether::io::PipeReader reader(fds[0], "test pipe");
    char got = 0;
    std::size_t n = 99;
    auto task = tether::spawn([](tether::io::PipeReader* r, char* got, std::size_t* n) -> Task<void> {
      *n = co_await r->read(tether::io::MutableBuffer(got, 1), Deadline::after(10s));
    }(&reader, &got, &n));
    co_await tether::yield_now();  // the reader finds the pipe empty and waits
    char stolen = 0;
    EXPECT_EQ(::write(fds[1], "a", 1), 1);
    EXPECT_EQ(::read(raw_read_end, &stolen, 1), 1);  // gone before the edge is dispatched
    co_await tether::sleep(20ms);                    // the driver reports the edge; the reader waits on
    EXPECT_EQ(n, 99u) << "the read ended on an edge whose byte was gone";
    EXPECT_EQ(::write(fds[1], "b", 1), 1);
    co_await task;
    EXPECT_EQ(stolen, 'a');
    EXPECT_EQ(n, 1u);
    EXPECT_EQ(got, 'b');
    ::close(fds[1]);
  }());
}

}  // namespace

// TcpStream: echo, deadlines, named faults, backpressure; each against both backends.
#include "tether/io/net/tcp_stream.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "io_test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/yield.hpp"
#include "tether/io/error.hpp"
#include "tether/io/net/tcp_listener.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/sleep.hpp"
#include "tether/time/timeout.hpp"

using namespace std::chrono_literals;
using tether::Deadline;
using tether::Task;
using tether::io::SocketAddress;
using tether::io::TcpListener;
using tether::io::TcpStream;

static_assert(!std::is_copy_constructible_v<TcpStream>);
static_assert(std::is_nothrow_move_constructible_v<TcpStream>);

namespace {

class TcpStreamTest : public tether::test::IoBackendTest {};
TETHER_IO_BACKENDS(TcpStreamTest);

Task<void> echo_once(TcpListener& l) {
  TcpStream s = co_await l.accept(Deadline::after(5s));
  char buf[256];
  for (;;) {
    std::size_t n = co_await s.read(buf);
    if (n == 0) break;
    co_await s.write_all(tether::io::ConstBuffer(buf, n));
  }
}

// Property: bytes written by the client come back unchanged; EOF after shutdown ends the echo.
TEST_P(TcpStreamTest, EchoRoundTripAndEndOfStream) {
  tether::Runtime rt(options());
  rt.block_on([]() -> Task<void> {
    auto l = TcpListener::bind(SocketAddress::loopback_v4(0));
    auto server = tether::spawn(echo_once(l));
    TcpStream c = co_await TcpStream::connect(l.local_address(), Deadline::after(5s));
    c.set_nodelay(true);
    EXPECT_TRUE(c.nodelay());
    EXPECT_EQ(c.peer_address(), l.local_address());
    co_await c.write_all("hello tether");
    std::string back(12, '\0');
    co_await c.read_exact(back);
    EXPECT_EQ(back, "hello tether");
    c.shutdown();
    char one;
    EXPECT_EQ(co_await c.read(tether::io::MutableBuffer(&one, 1)), 0u);
    co_await server;
  }());
}

// Property: a task that blocks its worker (busy-waiting, as a task that should have used
// spawn_blocking does) does not stall I/O for the other tasks: the other worker keeps watching and
// polls the driver when the blocked one cannot. The connection arrives from a plain thread well
// after the other worker would have gone to sleep for good, had it stopped watching.
TEST_P(TcpStreamTest, TaskBlockingItsWorkerDoesNotStallOtherConnections) {
  tether::Runtime rt(options(2));
  std::atomic<bool> blocking{false};
  std::atomic<bool> served{false};
  std::atomic<std::uint16_t> port{0};
  std::thread client([&] {
    while (!blocking.load() || port.load() == 0) std::this_thread::yield();
    std::this_thread::sleep_for(60ms);  // past the other worker's quiet naps (multi_thread.cpp)
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port.load());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::send(fd, "x", 1, 0), 1);
    while (!served.load()) std::this_thread::yield();
    ::close(fd);
  });
  bool ok = rt.block_on(
      [](std::atomic<bool>* blocking, std::atomic<bool>* served, std::atomic<std::uint16_t>* port) -> Task<bool> {
        auto l = TcpListener::bind(SocketAddress::loopback_v4(0));
        port->store(l.local_address().port());
        auto serve = [](TcpListener* l, std::atomic<bool>* served) -> Task<void> {
          TcpStream s = co_await l->accept(Deadline::after(20s));
          char c = 0;
          std::size_t n = co_await s.read(tether::io::MutableBuffer(&c, 1), Deadline::after(20s));
          if (n == 1 && c == 'x') served->store(true);
        };
        auto server = tether::spawn(serve(&l, served));
        auto block = [](std::atomic<bool>* blocking, std::atomic<bool>* served) -> Task<bool> {
          blocking->store(true);
          const auto give_up = std::chrono::steady_clock::now() + 10s;
          while (!served->load()) {
            if (std::chrono::steady_clock::now() > give_up) co_return false;
          }
          co_return true;
        };
        bool result = co_await tether::spawn(block(blocking, served));
        co_await server;
        co_return result;
      }(&blocking, &served, &port));
  served.store(true);  // lets the client go in any case
  client.join();
  EXPECT_TRUE(ok) << "the connection was not served while a task blocked the other worker";
}

// Property: connecting to a port nobody listens on is the named outcome kConnectionRefused.
TEST_P(TcpStreamTest, ConnectRefusedIsNamed) {
  tether::Runtime rt(options());
  rt.block_on([]() -> Task<void> {
    std::uint16_t port;
    {
      auto l = TcpListener::bind(SocketAddress::loopback_v4(0));
      port = l.local_address().port();
    }
    try {
      co_await TcpStream::connect(SocketAddress::loopback_v4(port), Deadline::after(5s));
      ADD_FAILURE() << "connected to a closed port";
    } catch (const tether::io::Error& e) {
      EXPECT_EQ(e.kind(), tether::io::ErrorKind::kConnectionRefused);
      EXPECT_NE(std::string(e.what()).find("connect to 127.0.0.1:"), std::string::npos) << e.what();
    }
  }());
}

// Property: a peer that accepts and then says nothing trips the read deadline, and TimedOut names
// the operation and the peer.
TEST_P(TcpStreamTest, SilentPeerTripsReadDeadline) {
  tether::Runtime rt(options());
  rt.block_on([]() -> Task<void> {
    auto l = TcpListener::bind(SocketAddress::loopback_v4(0));
    TcpStream c = co_await TcpStream::connect(l.local_address(), Deadline::after(5s));
    TcpStream s = co_await l.accept(Deadline::after(5s));  // accepted, never written to
    char buf[16];
    auto t0 = std::chrono::steady_clock::now();
    try {
      co_await c.read(buf, Deadline::after(100ms));
      ADD_FAILURE() << "read returned from a silent peer";
    } catch (const tether::TimedOut& e) {
      std::string expect = "timed out: read from " + l.local_address().to_string();
      EXPECT_EQ(std::string(e.what()), expect);
    }
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(took, 90ms);
    EXPECT_LT(took, 2s);
  }());
}

// Property: a read ends once, with its byte, TimedOut or Cancelled, and a read that timed out or was
// aborted took nothing: every byte written is read exactly once in the end. Rounds of three kinds,
// on two workers: the reader aborted as the byte comes (abort against event); its 1 ms deadline
// mostly passing before the byte comes at 2 ms (the byte then waits for a later reader); the byte
// coming while its 1 ms deadline runs (event, sometimes against the timer). Which outcome each
// round has depends on timing; that every byte is read exactly once does not.
TEST_P(TcpStreamTest, ReadRacingItsDeadlineAndAbortLosesNothing) {
  tether::Runtime rt(options());
  rt.block_on([]() -> Task<void> {
    auto l = TcpListener::bind(SocketAddress::loopback_v4(0));
    TcpStream c = co_await TcpStream::connect(l.local_address(), Deadline::after(5s));
    TcpStream s = co_await l.accept(Deadline::after(5s));
    constexpr std::size_t kRounds = 300;
    std::size_t got = 0;
    for (std::size_t i = 0; i < kRounds; ++i) {
      auto reader = tether::spawn([](TcpStream* c, std::size_t* got) -> Task<void> {
        char buf[64];
        try {
          *got += co_await c->read(buf, Deadline::after(1ms));
        } catch (const tether::TimedOut&) {
          // nothing taken
        }
      }(&c, &got));
      if (i % 3 == 1) co_await tether::sleep(2ms);
      char byte = 'x';
      co_await s.write_all(tether::io::ConstBuffer(&byte, 1));
      if (i % 3 == 0) reader.abort();
      try {
        co_await reader;
      } catch (const tether::Cancelled&) {
        // nothing taken
      }
    }
    char rest[kRounds];
    while (got < kRounds) got += co_await c.read(rest, Deadline::after(5s));
    EXPECT_EQ(got, kRounds);
  }());
}

// Property: the object's default (IoTimeout) applies when no deadline is given, and waiting on the
// virtual clock makes a one-hour timeout take no real time.
TEST(TcpStreamVirtualTest, DefaultTimeoutOnVirtualClock) {
  tether::testing::VirtualRuntime rt({.runtime = {.io_timeout = std::chrono::hours(1)}});
  auto t0 = std::chrono::steady_clock::now();
  rt.block_on([]() -> Task<void> {
    auto l = TcpListener::bind(SocketAddress::loopback_v4(0));
    TcpStream c = co_await TcpStream::connect(l.local_address());
    TcpStream s = co_await l.accept();
    char buf[16];
    EXPECT_THROW(co_await c.read(buf), tether::TimedOut);  // io_timeout: 1 h of virtual time
    c.set_timeout(tether::io::IoTimeout::after(5s));
    auto v0 = tether::Clock::now();
    EXPECT_THROW(co_await c.read(buf), tether::TimedOut);
    EXPECT_EQ(tether::Clock::now() - v0, 5s);
  }());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
}

// Writes one byte to `s` after `d` on the runtime's clock.
Task<void> send_after(TcpStream* s, std::chrono::milliseconds d) {
  co_await tether::sleep(d);
  char byte = 'x';
  co_await s->write_all(tether::io::ConstBuffer(&byte, 1));
}

// Property: each wait gets its own full deadline, however the stream's deadline timer (one per
// direction, kept armed across waits) was armed before: reads that each wait 3 s under a 10 s
// io_timeout never time out, and a silent read after them times out exactly 10 s after it began; an
// explicit deadline earlier than the armed one still fires on time; a read without a deadline
// outlives the armed timer; closing the streams leaves no timer behind. On the virtual clock, so
// every figure is exact.
TEST(TcpStreamVirtualTest, EveryWaitGetsItsOwnDeadline) {
  tether::testing::VirtualRuntime rt({.runtime = {.io_timeout = 10s}});
  rt.block_on([](tether::Runtime* rt) -> Task<void> {
    {
      auto l = TcpListener::bind(SocketAddress::loopback_v4(0));
      TcpStream c = co_await TcpStream::connect(l.local_address());
      TcpStream s = co_await l.accept();
      char buf[16];
      for (int i = 0; i < 5; ++i) {  // 15 s of reads, each well inside its own 10 s
        auto writer = tether::spawn(send_after(&s, 3s));
        auto v0 = tether::Clock::now();
        EXPECT_EQ(co_await c.read(buf), 1u);
        EXPECT_EQ(tether::Clock::now() - v0, 3s);
        co_await writer;
      }
      auto v0 = tether::Clock::now();
      EXPECT_THROW(co_await c.read(buf), tether::TimedOut);
      EXPECT_EQ(tether::Clock::now() - v0, 10s);

      // A read that arms the timer 10 s out, then one with a 2 s deadline of its own.
      auto writer = tether::spawn(send_after(&s, 1s));
      EXPECT_EQ(co_await c.read(buf), 1u);
      co_await writer;
      v0 = tether::Clock::now();
      EXPECT_THROW(co_await c.read(buf, Deadline::after(2s)), tether::TimedOut);
      EXPECT_EQ(tether::Clock::now() - v0, 2s);

      // Armed 10 s out again, then a read without a deadline whose byte comes after 30 s.
      writer = tether::spawn(send_after(&s, 1s));
      EXPECT_EQ(co_await c.read(buf), 1u);
      co_await writer;
      writer = tether::spawn(send_after(&s, 30s));
      v0 = tether::Clock::now();
      EXPECT_EQ(co_await c.read(buf, Deadline::never()), 1u);
      EXPECT_EQ(tether::Clock::now() - v0, 30s);
      co_await writer;
    }
    EXPECT_EQ(rt->metrics().timers, 0u);
  }(&rt));
}

// Property: on a virtual clock, which jumps to the next timer when every task is blocked, a
// socket's deadline timer does not outlive its wait: a read that completed leaves no timer for the
// clock to jump to while the next read (without a deadline) waits for a byte from another thread.
TEST(TcpStreamVirtualTest, FinishedWaitLeavesNoTimerForTheClockToJumpTo) {
  tether::testing::VirtualRuntime rt({.runtime = {.io_timeout = 10s}});
  rt.block_on([](tether::Runtime* rt) -> Task<void> {
    auto l = TcpListener::bind(SocketAddress::loopback_v4(0));
    TcpStream c = co_await TcpStream::connect(l.local_address());
    TcpStream s = co_await l.accept();
    auto send_later = tether::spawn(send_after(&s, 1s));
    char buf[16];
    EXPECT_EQ(co_await c.read(buf), 1u);  // waited 1 s under the 10 s io_timeout: the timer was armed
    co_await send_later;
    EXPECT_EQ(rt->metrics().timers, 0u);
    // The writer is a plain thread: no task, no timer; the read waits in real time.
    std::thread writer([fd = s.native_handle()] {
      std::this_thread::sleep_for(20ms);
      char b = 'y';
      EXPECT_EQ(::send(fd, &b, 1, MSG_NOSIGNAL), 1);
    });
    auto v0 = tether::Clock::now();
    EXPECT_EQ(co_await c.read(buf, Deadline::never()), 1u);
    EXPECT_EQ(tether::Clock::now() - v0, 0ms);
    writer.join();
  }(&rt));
}

// Property: the stream ending in the middle of read_exact is kUnexpectedEof, not a hang or a short
// read; a reset by the peer is kConnectionReset.
TEST_P(TcpStreamTest, EofInReadExactAndResetAreNamed) {
  tether::Runtime rt(options());
  rt.block_on([]() -> Task<void> {
    auto l = TcpListener::bind(SocketAddress::loopback_v4(0));
    TcpStream c = co_await TcpStream::connect(l.local_address(), Deadline::after(5s));
    {
      TcpStream s = co_await l.accept(Deadline::after(5s));
      co_await s.write_all("abc");
    }  // closed after three bytes
    char buf[10];
    try {
      co_await c.read_exact(buf, Deadline::after(5s));
      ADD_FAILURE();
    } catch (const tether::io::Error& e) {
      EXPECT_EQ(e.kind(), tether::io::ErrorKind::kUnexpectedEof) << e.what();
    }

    TcpStream c2 = co_await TcpStream::connect(l.local_address(), Deadline::after(5s));
    {
      TcpStream s = co_await l.accept(Deadline::after(5s));
      linger lg{1, 0};  // close with RST
      ::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    co_await tether::sleep(20ms);
    try {
      co_await c2.read(buf, Deadline::after(5s));
      ADD_FAILURE();
    } catch (const tether::io::Error& e) {
      EXPECT_EQ(e.kind(), tether::io::ErrorKind::kConnectionReset) << e.what();
    }
  }());
}

// Property: a reader that does not read makes the writer wait (its write times out with the bytes
// accepted bounded by the kernel's socket buffers) instead of buffering without bound; once the
// reader drains, every byte arrives.
TEST_P(TcpStreamTest, SlowReaderMakesWriterWait) {
  tether::Runtime rt(options());
  rt.block_on([]() -> Task<void> {
    auto l = TcpListener::bind(SocketAddress::loopback_v4(0));
    TcpStream c = co_await TcpStream::connect(l.local_address(), Deadline::after(5s));
    TcpStream s = co_await l.accept(Deadline::after(5s));
    constexpr std::size_t kTotal = 64u << 20;
    std::vector<char> chunk(64 << 10, 'x');
    std::size_t written = 0;
    bool waited = false;
    // Phase 1: nobody reads. The writer fills the socket buffers, then waits and times out.
    try {
      while (written < kTotal) written += co_await c.write(chunk, Deadline::after(100ms));
    } catch (const tether::TimedOut&) {
      waited = true;
    }
    EXPECT_TRUE(waited);
    EXPECT_LT(written, kTotal);
    EXPECT_LT(written, 32u << 20) << "bytes accepted without a reader";
    // Phase 2: a slow reader drains; the writer finishes another 4 MiB.
    std::size_t target = written + (4u << 20);
    struct Reader {
      static Task<std::size_t> run(TcpStream& s, std::size_t want) {
        std::vector<char> buf(256 << 10);
        std::size_t got = 0;
        while (got < want) {
          std::size_t n = co_await s.read(buf, Deadline::after(10s));
          if (n == 0) break;
          got += n;
        }
        co_return got;
      }
    };
    auto reader = tether::spawn(Reader::run(s, target));
    while (written < target) {
      written += co_await c.write(tether::io::ConstBuffer(chunk.data(), std::min(chunk.size(), target - written)),
                                  Deadline::after(10s));
    }
    EXPECT_EQ(co_await reader, target);
  }());
}

}  // namespace

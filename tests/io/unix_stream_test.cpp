// Unix-domain streams: listener, connect, socketpair, deadlines naming the path.
#include "tether/io/net/unix_stream.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "io_test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/io/error.hpp"
#include "tether/io/net/unix_listener.hpp"

using namespace std::chrono_literals;
using tether::Deadline;
using tether::Task;
namespace io = tether::io;

namespace {

class UnixStreamTest : public tether::test::IoBackendTest {};
TETHER_IO_BACKENDS(UnixStreamTest);

TEST_P(UnixStreamTest, ListenConnectEcho) {
  std::string path = (std::filesystem::temp_directory_path() / ("tether_unix_" + std::to_string(::getpid()))).string();
  tether::Runtime rt(options());
  rt.block_on([](std::string path) -> Task<void> {
    auto l = io::UnixListener::bind(path);
    io::UnixStream c = co_await io::UnixStream::connect(path, Deadline::after(5s));
    io::UnixStream s = co_await l.accept(Deadline::after(5s));
    co_await c.write_all("ping");
    char buf[4];
    co_await s.read_exact(buf);
    EXPECT_EQ(std::string(buf, 4), "ping");
    try {
      co_await s.read(buf, Deadline::after(50ms));
      ADD_FAILURE();
    } catch (const tether::TimedOut& e) {
      EXPECT_EQ(std::string(e.what()), "timed out: read from " + path);
    }
  }(path));
  EXPECT_FALSE(std::filesystem::exists(path));  // the listener removed its socket file
}

TEST_P(UnixStreamTest, ConnectToMissingPathIsNotFound) {
  tether::Runtime rt(options());
  rt.block_on([]() -> Task<void> {
    try {
      co_await io::UnixStream::connect("/nonexistent/tether.sock", Deadline::after(5s));
      ADD_FAILURE();
    } catch (const io::Error& e) {
      EXPECT_EQ(e.kind(), io::ErrorKind::kNotFound) << e.what();
    }
  }());
}

TEST_P(UnixStreamTest, SocketPairCarriesBytesBothWays) {
  tether::Runtime rt(options());
  rt.block_on([]() -> Task<void> {
    auto [a, b] = io::UnixStream::pair();
    co_await a.write_all("ab");
    co_await b.write_all("cd");
    char buf[2];
    co_await b.read_exact(buf);
    EXPECT_EQ(std::string(buf, 2), "ab");
    co_await a.read_exact(buf);
    EXPECT_EQ(std::string(buf, 2), "cd");
  }());
}

}  // namespace

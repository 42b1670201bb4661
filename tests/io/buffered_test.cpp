// BufReader / BufWriter over a socket pair.
#include "tether/io/buffered.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "io_test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/io/net/unix_stream.hpp"

using namespace std::chrono_literals;
using tether::Deadline;
using tether::Task;
namespace io = tether::io;

static_assert(io::AsyncReadStream<io::UnixStream>);
static_assert(io::AsyncWriteStream<io::UnixStream>);

namespace {

class BufferedTest : public tether::test::IoBackendTest {};
TETHER_IO_BACKENDS(BufferedTest);

TEST_P(BufferedTest, LinesAcrossWritesAndBoundedLength) {
  tether::Runtime rt(options());
  rt.block_on([]() -> Task<void> {
    auto [a, b] = io::UnixStream::pair();
    io::BufWriter w(a, 64);
    auto dl = Deadline::after(5s);
    co_await w.write("first li", dl);
    co_await w.write("ne\r\nsecond\n", dl);
    EXPECT_GT(w.buffered(), 0u);
    co_await w.flush(dl);
    co_await a.write_all(std::string(100, 'z') + "\nlast", dl);
    a.shutdown();
    io::BufReader r(b, 32);
    std::string line;
    EXPECT_TRUE(co_await r.read_line(line, dl));
    EXPECT_EQ(line, "first line");
    EXPECT_TRUE(co_await r.read_line(line, dl));
    EXPECT_EQ(line, "second");
    EXPECT_THROW(co_await r.read_line(line, dl, 50), io::Error);  // 100 bytes > max_line
    std::string rest;
    while (co_await r.read_line(line, dl)) rest = line;
    EXPECT_EQ(rest, "last");
  }());
}

}  // namespace

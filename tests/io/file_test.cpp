// Files on the blocking pool, each call bounded by a deadline.
#include "tether/io/file.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "io_test_support.hpp"
#include "tether/core/runtime.hpp"
#include "tether/io/error.hpp"

using namespace std::chrono_literals;
using tether::Deadline;
using tether::Task;
namespace io = tether::io;

namespace {

class FileTest : public tether::test::IoBackendTest {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tether_io_file_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const char* name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};
TETHER_IO_BACKENDS(FileTest);

TEST_P(FileTest, WholeFileWriteAppendReadRenameMetadata) {
  tether::Runtime rt(options());
  rt.block_on([](std::string a, std::string b) -> Task<void> {
    auto dl = Deadline::after(10s);
    co_await io::write_file(a, "hello", dl);
    co_await io::append_file(a, " world", dl);
    EXPECT_EQ(co_await io::read_file(a, dl), "hello world");
    co_await io::rename(a, b, dl);
    auto m = co_await io::metadata(b, dl);
    EXPECT_EQ(m.size, 11u);
    EXPECT_TRUE(m.is_file);
    co_await io::remove_file(b, dl);
    try {
      co_await io::read_file(b, dl);
      ADD_FAILURE();
    } catch (const io::Error& e) {
      EXPECT_EQ(e.kind(), io::ErrorKind::kNotFound);
      EXPECT_NE(std::string(e.what()).find("read " + b), std::string::npos) << e.what();
    }
  }(path("a"), path("b")));
}

TEST_P(FileTest, OpenReadWriteSync) {
  tether::Runtime rt(options());
  rt.block_on([](std::string p) -> Task<void> {
    auto dl = Deadline::after(10s);
    {
      io::File f = co_await io::File::open(p, {.read = false, .write = true, .create = true, .truncate = true}, dl);
      co_await f.write_all("0123456789", dl);
      co_await f.sync(dl);
      EXPECT_EQ((co_await f.metadata(dl)).size, 10u);
    }
    io::File f = co_await io::File::open(p, {}, dl);
    char buf[4];
    EXPECT_EQ(co_await f.read(buf, dl), 4u);
    EXPECT_EQ(std::string(buf, 4), "0123");
    try {
      co_await io::File::open(p, {.write = true, .create = true, .exclusive = true}, dl);
      ADD_FAILURE();
    } catch (const io::Error& e) {
      EXPECT_EQ(e.kind(), io::ErrorKind::kAlreadyExists);
    }
  }(path("f")));
}

// Property: a file operation that cannot finish in time (a FIFO nobody writes to blocks open())
// gives TimedOut naming the operation and the path; the caller is not stuck.
TEST_P(FileTest, BlockedOpenTimesOut) {
  std::string fifo = path("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  tether::Runtime rt(options());
  rt.block_on([](std::string p) -> Task<void> {
    try {
      co_await io::File::open(p, {}, Deadline::after(100ms));
      ADD_FAILURE();
    } catch (const tether::TimedOut& e) {
      EXPECT_EQ(std::string(e.what()), "timed out: open " + p);
    }
    // Unblock the pool thread still inside open(), so that the runtime can stop.
    int w = ::open(p.c_str(), O_WRONLY | O_NONBLOCK);
    if (w >= 0) ::close(w);
  }(fifo));
}

}  // namespace

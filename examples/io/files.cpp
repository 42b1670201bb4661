// examples/io/files.cpp
//
// Shows: file operations with deadlines on the blocking pool: write a whole file atomically,
// append, read it back, look at its metadata, rename and remove it.
//
// Run:  example_io_files             (works in $TMPDIR or /tmp; exits 0)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tether/core/runtime.hpp"
#include "tether/io/file.hpp"

using namespace std::chrono_literals;
using tether::Deadline;
using tether::Task;
namespace io = tether::io;

namespace {

Task<int> demo(std::string dir) {
  std::string path = dir + "/tether_example_" + std::to_string(::getpid()) + ".txt";
  auto deadline = Deadline::after(5s);  // one budget for the whole sequence
  co_await io::write_file(path, "first line\n", deadline);
  co_await io::append_file(path, "second line\n", deadline);
  std::string text = co_await io::read_file(path, deadline);
  io::Metadata m = co_await io::metadata(path, deadline);
  std::printf("%s: %llu bytes\n%s", path.c_str(), static_cast<unsigned long long>(m.size), text.c_str());
  co_await io::rename(path, path + ".old", deadline);
  co_await io::remove_file(path + ".old", deadline);
  co_return text == "first line\nsecond line\n" ? 0 : 1;
}

}  // namespace

int main() {
  const char* tmp = std::getenv("TMPDIR");
  tether::Runtime rt({.workers = 2});
  return rt.block_on(demo(tmp ? tmp : "/tmp"));
}

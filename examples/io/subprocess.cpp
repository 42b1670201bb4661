// examples/io/subprocess.cpp
//
// Shows: running child processes with deadlines: run() collects a command's output within a
// deadline; spawn() gives async pipes to talk to a child; a child that hangs is killed and reaped
// when its wait times out, so no zombie is left.
//
// Run:  example_io_subprocess        (no arguments; exits 0)
#include <chrono>
#include <cstdio>

#include "tether/core/runtime.hpp"
#include "tether/io/process.hpp"

using namespace std::chrono_literals;
using tether::Deadline;
using tether::Task;
namespace io = tether::io;

namespace {

// Commands are built outside the coroutine: GCC 12 rejects some braced lists of string literals
// inside a coroutine body ("array used as initializer").
io::Command upper_case() {
  return {.program = "tr", .args = {"a-z", "A-Z"}, .in = io::Stdio::kPipe, .out = io::Stdio::kPipe};
}

io::Command uname() { return {.program = "uname", .args = {"-s"}}; }
io::Command hang() { return {.program = "sleep", .args = {"100"}}; }

Task<int> demo() {
  // 1. A command and its output, bounded as a whole.
  io::Output out = co_await io::run(uname(), Deadline::after(5s));
  std::printf("uname -s -> %s", out.out.c_str());

  // 2. A conversation over pipes.
  io::Child tr = io::spawn(upper_case());
  co_await tr.in->write_all("shout this\n", Deadline::after(5s));
  tr.in->close();
  std::printf("tr -> %s", (co_await tr.out->read_to_end(Deadline::after(5s))).c_str());
  co_await tr.wait(Deadline::after(5s));

  // 3. A child that hangs: killed and reaped at the deadline.
  io::Child hung = io::spawn(hang());
  try {
    co_await hung.wait(Deadline::after(100ms));
  } catch (const tether::TimedOut& e) {
    std::printf("%s; killed and reaped: %s\n", e.what(), hung.reaped() ? "yes" : "no");
  }
  co_return out.status.success() && hung.reaped() ? 0 : 1;
}

}  // namespace

int main() {
  tether::Runtime rt({.workers = 2});
  return rt.block_on(demo());
}

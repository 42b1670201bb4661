// examples/core/hello.cpp
//
// Shows the core runtime at work: a runtime with two workers, tasks spawned and joined, a failure
// propagated through a JoinHandle, and CPU work moved to the compute pool.
//
// Run: build/debug/examples/example_core_hello
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "tether/tether.hpp"

namespace {

tether::Task<long> sum_range(long from, long to) {
  long s = 0;
  for (long i = from; i < to; ++i) s += i;
  co_return s;
}

tether::Task<int> may_fail(bool fail) {
  if (fail) throw std::runtime_error("the disk is on fire");
  co_return 7;
}

tether::Task<int> run() {
  // Fan out: ten tasks, each summing a slice; join them all.
  std::vector<tether::JoinHandle<long>> parts;
  for (long i = 0; i < 10; ++i) parts.push_back(tether::spawn(sum_range(i * 1000, (i + 1) * 1000)));
  long total = 0;
  for (auto& p : parts) total += co_await p;
  std::printf("sum of 0..9999 = %ld\n", total);

  // A failure travels through the handle as an exception.
  auto bad = tether::spawn(may_fail(true), {.name = "may-fail"});
  try {
    co_await bad;
  } catch (const std::exception& e) {
    std::printf("task failed as expected: %s\n", e.what());
  }

  // CPU-bound work goes to the compute pool; the worker stays free.
  long squares = co_await tether::spawn_compute([] {
    long s = 0;
    for (long i = 0; i < 1000; ++i) s += i * i;
    return s;
  });
  std::printf("sum of squares below 1000 = %ld\n", squares);
  co_return total == 49995000 && squares == 332833500 ? 0 : 1;
}

}  // namespace

int main() {
  tether::Runtime rt({.workers = 2, .name = "hello"});
  return rt.block_on(run());
}

// examples/time/timeouts.cpp
//
// Shows time: a timeout that names what timed out, a select between work and a deadline, and an
// Interval that keeps a steady rhythm. Runs on the virtual-time runtime, so the hour-long timeout
// takes no real time at all.
//
// Run: build/debug/examples/example_time_timeouts
#include <cstdio>

#include "tether/testing/virtual_runtime.hpp"
#include "tether/tether.hpp"

using namespace std::chrono_literals;

namespace {

tether::Task<int> slow_query() {
  co_await tether::sleep(2h);
  co_return 1;
}

tether::Task<int> run() {
  try {
    co_await tether::timeout(1h, slow_query(), "query orders");
  } catch (const tether::TimedOut& e) {
    std::printf("%s after %lld virtual minutes\n", e.what(),
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::minutes>(tether::Clock::now().time_since_epoch()).count()));
  }
  auto r = co_await tether::select(slow_query(), tether::sleep(10ms));
  std::printf("select: branch %zu won\n", r.index());

  tether::Interval every(250ms);
  for (int i = 0; i < 3; ++i) co_await every.tick();
  std::printf("three ticks done\n");
  co_return r.index() == 1 ? 0 : 1;
}

}  // namespace

int main() {
  tether::testing::VirtualRuntime rt;
  return rt.block_on(run());
}

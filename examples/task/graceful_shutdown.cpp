// examples/task/graceful_shutdown.cpp
//
// Shows task lifecycle discipline: background workers run in a TaskTracker with a concurrency
// limit; on shutdown the tracker is closed and cancelled, each worker's cleanup runs (RAII), and
// the runtime's shutdown(grace) reports anything that would not stop. A scope runs two fetches that
// must both succeed.
//
// Run: build/debug/examples/example_task_graceful_shutdown
#include <atomic>
#include <cstdio>

#include "tether/task/scope.hpp"
#include "tether/task/task_tracker.hpp"
#include "tether/tether.hpp"

using namespace std::chrono_literals;

namespace {

tether::Task<void> worker(std::atomic<int>* cleaned) {
  auto cleanup = tether::ScopeExit([cleaned] { cleaned->fetch_add(1); });
  tether::Interval tick(5ms);
  for (;;) co_await tick.tick();  // until cancelled
}

tether::Task<int> fetch(int x) {
  co_await tether::sleep(2ms);
  co_return x * 10;
}

tether::Task<int> run(std::atomic<int>* cleaned) {
  int a = 0, b = 0;
  co_await tether::scope([&a, &b](tether::Scope& s) -> tether::Task<void> {
    s.spawn([](int* out) -> tether::Task<void> { *out = co_await fetch(1); }(&a));
    s.spawn([](int* out) -> tether::Task<void> { *out = co_await fetch(2); }(&b));
    co_return;
  });
  std::printf("scope fetched %d and %d\n", a, b);

  tether::TaskTracker workers({.name = "worker", .limit = 8});
  for (int i = 0; i < 4; ++i) (void)co_await workers.spawn(worker(cleaned));
  co_await tether::sleep(20ms);
  workers.close();
  workers.cancel();
  co_await workers.wait();
  std::printf("all %d workers stopped and cleaned up\n", cleaned->load());
  co_return a + b;
}

}  // namespace

int main() {
  std::atomic<int> cleaned{0};
  tether::Runtime rt({.workers = 2, .name = "shutdown-demo"});
  int r = rt.block_on(run(&cleaned));
  auto report = rt.shutdown(1s);
  std::printf("shutdown %s in %lldms\n", report.clean() ? "clean" : "left tasks behind",
              static_cast<long long>(report.took.count()));
  return r == 30 && cleaned.load() == 4 && report.clean() ? 0 : 1;
}

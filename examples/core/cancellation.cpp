// examples/core/cancellation.cpp
//
// Shows cancellation: a task aborted through its JoinHandle wakes at its suspension point with
// Cancelled, its RAII cleanup runs, a shielded flush still completes (bounded by its own timeout),
// and a CancellationToken stops a group of tasks at once.
//
// Run: build/debug/examples/example_core_cancellation
#include <atomic>
#include <cstdio>
#include <vector>

#include "tether/tether.hpp"

using namespace std::chrono_literals;

namespace {

tether::Task<void> flush(std::atomic<bool>* flushed) {
  co_await tether::sleep(1ms);
  *flushed = true;
}

tether::Task<void> session(std::atomic<bool>* flushed) {
  bool cancelled = false;
  try {
    co_await tether::sleep(1h);  // wakes with Cancelled when aborted
  } catch (const tether::Cancelled&) {
    cancelled = true;  // C++ allows no co_await inside a handler: clean up below
  }
  if (cancelled) {
    // Cleanup that must finish: shielded from the cancellation, bounded by its own timeout.
    co_await tether::shield(tether::timeout(100ms, flush(flushed), "flush"));
    throw tether::Cancelled();
  }
}

tether::Task<int> run() {
  std::atomic<bool> flushed{false};
  auto h = tether::spawn(session(&flushed), {.name = "session"});
  co_await tether::sleep(2ms);
  h.abort();
  try {
    co_await h;
  } catch (const tether::Cancelled&) {
    std::printf("session cancelled; flushed=%d\n", flushed.load() ? 1 : 0);
  }

  tether::CancellationToken stop;
  std::vector<tether::JoinHandle<void>> group;
  for (int i = 0; i < 3; ++i) {
    group.push_back(tether::spawn([]() -> tether::Task<void> { co_await tether::sleep(1h); }(), {.token = &stop}));
  }
  stop.cancel();
  int stopped = 0;
  for (auto& g : group) {
    try {
      co_await g;
    } catch (const tether::Cancelled&) {
      ++stopped;
    }
  }
  std::printf("token stopped %d tasks\n", stopped);
  co_return flushed.load() && stopped == 3 ? 0 : 1;
}

}  // namespace

int main() {
  tether::Runtime rt({.workers = 2});
  return rt.block_on(run());
}

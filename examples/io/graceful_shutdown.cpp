// examples/io/graceful_shutdown.cpp
//
// Shows: ShutdownOnSignal. The first SIGTERM (or SIGINT) makes the runtime shut down gracefully:
// every task is cancelled, and work that must not be cut short (run under shield()) finishes
// within the grace period; the program then exits 0. A second signal would exit at once.
//
// Run:  example_io_graceful_shutdown          starts three jobs, sends itself SIGTERM, exits 0
//       example_io_graceful_shutdown --wait   prints "ready" and waits for a SIGTERM from outside
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "tether/core/runtime.hpp"
#include "tether/core/shield.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/yield.hpp"
#include "tether/io/signal.hpp"
#include "tether/time/sleep.hpp"

using namespace std::chrono_literals;

namespace {

constexpr int kJobs = 3;

// One unit of in-flight work: it takes a while and must not be abandoned half-way.
tether::Task<void> job(int i, std::atomic<int>* started, std::atomic<int>* finished) {
  started->fetch_add(1, std::memory_order_relaxed);  // relaxed: only counted
  co_await tether::sleep(300ms);
  finished->fetch_add(1, std::memory_order_relaxed);  // relaxed: read after the runtime shut down
  std::printf("job %d finished\n", i);
  std::fflush(stdout);
}

tether::Task<void> serve(bool wait_outside, std::atomic<int>* finished) {
  std::vector<tether::JoinHandle<void>> jobs;
  std::atomic<int> started{0};
  for (int i = 0; i < kJobs; ++i) jobs.push_back(tether::spawn(tether::shield(job(i, &started, finished))));
  // "ready" once every job is in flight: a task cancelled before it first runs never runs at all, so
  // its shield would not have begun yet.
  while (started.load(std::memory_order_relaxed) < kJobs) co_await tether::yield_now();
  std::printf("ready\n");
  std::fflush(stdout);
  if (!wait_outside) {
    co_await tether::sleep(50ms);
    ::kill(::getpid(), SIGTERM);
  }
  // Runs until the shutdown cancels it; the shielded jobs carry on.
  for (auto& j : jobs) co_await j;
  // Not reached when the signal comes first; reached if the jobs end before it (then wait for it).
  co_await tether::sleep(std::chrono::hours(1));
}

}  // namespace

int main(int argc, char** argv) {
  bool wait_outside = argc > 1 && std::strcmp(argv[1], "--wait") == 0;
  std::atomic<int> finished{0};
  int rc = 0;
  {
    tether::Runtime rt({.workers = 2});
    tether::io::ShutdownOnSignal on_signal(rt, {.grace = 5s});
    try {
      rt.block_on(serve(wait_outside, &finished));
    } catch (const tether::Cancelled&) {
      // The shutdown cancelled the serving task: expected.
    }
    // ~ShutdownOnSignal waits for the shutdown (and its grace period) to finish.
  }
  int n = finished.load(std::memory_order_relaxed);
  std::printf("shut down: %d/%d in-flight jobs finished\n", n, kJobs);
  if (n != kJobs) rc = 1;
  return rc;
}

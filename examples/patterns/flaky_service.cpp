// examples/patterns/flaky_service.cpp
//
// Shows resilience patterns around a flaky dependency: a local "inventory service" task (simulated
// in-process behind a bounded request channel, with a oneshot reply per request) that is healthy,
// then down for a while, then healthy again. The client calls it through
//   RateLimiter  (at most 200 requests a second),
//   retry()      (3 attempts, exponential backoff with seeded jitter, a 300 ms budget per lookup),
//   CircuitBreaker (opens at 50% failures over the last 10 calls, 100 ms open, 2 trial calls),
//   timeout()    (every request has a deadline),
// and a Bulkhead bounds how many lookups run at once. It prints what happened: the breaker's
// transitions (logged) and counters, how many lookups succeeded, failed fast, or were turned away.
//
// Run: build/<dir>/examples/example_patterns_flaky_service   (exits 0 on success, ~1 s)
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "tether/channel/mpsc.hpp"
#include "tether/channel/oneshot.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/patterns/bulkhead.hpp"
#include "tether/patterns/circuit_breaker.hpp"
#include "tether/patterns/map_concurrent.hpp"
#include "tether/patterns/rate_limiter.hpp"
#include "tether/patterns/retry.hpp"
#include "tether/time/clock.hpp"
#include "tether/time/sleep.hpp"
#include "tether/time/timeout.hpp"

using namespace std::chrono_literals;
using tether::Task;

namespace {

struct Request {
  int sku;
  tether::oneshot::Sender<int> reply;
};

// The service: answers in 2 ms, except between 150 ms and 450 ms after it starts, when it fails
// every request (an outage).
Task<void> inventory_service(tether::mpsc::Receiver<Request> requests) {
  auto start = tether::Clock::now();
  while (auto req = co_await requests.recv()) {
    co_await tether::sleep(2ms);
    auto age = tether::Clock::now() - start;
    bool down = age >= 150ms && age < 450ms;
    if (std::getenv("FLAKY_DEBUG"))
      std::fprintf(stderr, "service: sku %d at %lld ms%s\n", req->sku, static_cast<long long>(age.count()),
                   down ? " (down)" : "");
    if (!down) (void)req->reply.send(req->sku * 10);
    // when down, the reply sender is dropped: the caller sees the service fail
  }
}

// Everything a lookup needs, as one bundle (guidance §4) passed by reference.
struct ClientContext {
  tether::mpsc::Sender<Request> service;
  tether::CircuitBreaker& breaker;
  tether::RateLimiter& limiter;
};

// One request to the service, with a deadline.
Task<int> ask(ClientContext& ctx, int sku) {
  co_await ctx.limiter.acquire();
  auto [tx, rx] = tether::oneshot::channel<int>();
  // A named request, not a temporary inside the co_await expression (GCC 12 mishandles temporaries
  // with destructors there).
  Request req{sku, std::move(tx)};
  if (!co_await ctx.service.send(std::move(req))) throw tether::Error("service gone");
  auto reply = co_await tether::timeout(50ms, rx.recv(), "inventory reply");
  if (!reply) throw std::runtime_error("inventory: request failed");
  co_return *reply;
}

Task<int> lookup(ClientContext& ctx, int sku) {
  return tether::retry([&ctx, sku] { return ctx.breaker.call([&ctx, sku] { return ask(ctx, sku); }); },
                       {.max_attempts = 3, .initial_delay = 20ms, .jitter = 0.2, .seed = 7, .max_elapsed = 300ms});
}

struct Tally {
  std::atomic<int> ok{0}, failed{0}, failed_fast{0}, rejected{0};
};

Task<int> run() {
  auto [tx, rx] = tether::mpsc::channel<Request>(16);
  auto service = tether::spawn(inventory_service(std::move(rx)), {.name = "inventory service"});

  tether::CircuitBreaker breaker({.name = "inventory",
                                  .window_size = 10,
                                  .minimum_calls = 5,
                                  .failure_rate_threshold = 0.5,
                                  .open_duration = 100ms,
                                  .half_open_calls = 2});
  tether::RateLimiter limiter({.name = "inventory", .rate = 200, .per = 1s, .burst = 10});
  tether::Bulkhead bulkhead({.name = "lookups", .max_concurrent = 4, .max_waiting = 8});
  Tally tally;
  {
    ClientContext ctx{tx, breaker, limiter};
    // 150 lookups, 12 callers at a time; each goes through the bulkhead first.
    std::vector<int> skus(150);
    for (int i = 0; i < 150; ++i) skus[i] = i;
    co_await tether::for_each_concurrent(skus, 12, [&](int sku) -> Task<void> {
      co_await tether::sleep(std::chrono::milliseconds(sku % 5));
      std::exception_ptr error;
      try {
        auto r = co_await bulkhead.run([&] { return lookup(ctx, sku); });
        if (!r) {
          ++tally.rejected;
          co_return;
        }
        ++tally.ok;
      } catch (const tether::CircuitOpen&) {
        ++tally.failed_fast;
      } catch (const tether::Cancelled&) {
        throw;
      } catch (const std::exception& e) {
        if (std::getenv("FLAKY_DEBUG")) std::fprintf(stderr, "lookup %d: %s\n", sku, e.what());
        ++tally.failed;
      }
    });
  }
  { auto closing = std::move(tx); }  // the last sender goes: the service sees the channel closed
  co_await service;

  auto m = breaker.metrics();
  std::printf("lookups: %d ok, %d failed, %d failed fast (breaker open), %d turned away by the bulkhead\n",
              tally.ok.load(), tally.failed.load(), tally.failed_fast.load(), tally.rejected.load());
  std::printf("breaker '%s' now %s: %llu ok, %llu failed, %llu rejected calls; opened %llu, closed %llu times\n",
              breaker.name().c_str(), std::string(tether::to_string(m.state)).c_str(),
              static_cast<unsigned long long>(m.successful_calls), static_cast<unsigned long long>(m.failed_calls),
              static_cast<unsigned long long>(m.rejected_calls), static_cast<unsigned long long>(m.opened),
              static_cast<unsigned long long>(m.closed));
  bool ok = tally.ok + tally.failed + tally.failed_fast + tally.rejected == 150 && tally.ok > 0 && m.opened >= 1 &&
            m.state == tether::CircuitState::kClosed;
  co_return ok ? 0 : 1;
}

}  // namespace

int main() {
  tether::Runtime rt({.workers = 2, .name = "flaky-service"});
  try {
    return rt.block_on(run());
  } catch (const tether::Error& e) {
    std::fprintf(stderr, "flaky_service: %s\n", e.what());
    return 1;
  }
}

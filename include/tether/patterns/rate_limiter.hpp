// tether/patterns/rate_limiter.hpp
//
// RateLimiter: a token bucket. Tokens accrue at `rate` per `per` up to `burst`; acquire(n) waits
// until n tokens are there and takes them, try_acquire(n) takes them only if they are there now.
//
//   RateLimiter          the bucket
//   RateLimiterOptions   rate, per, burst, name
//   RateLimiterMetrics   a snapshot: granted, refused (try_acquire), waits
//
//   tether::RateLimiter limit({.name = "api", .rate = 10, .per = 1s, .burst = 5});
//   co_await limit.acquire();   // at most 10 calls a second, bursts of up to 5
//
// Implemented as GCRA (the generic cell rate algorithm, ITU-T I.371): one "theoretical arrival
// time" instead of a token count and a refill timer; exact integer arithmetic in nanoseconds on
// the runtime's clock, so under VirtualRuntime the grant times are exact.
//
// When to use something else: bounding how many calls run at once (not how often they start):
// Semaphore or Bulkhead; spacing retries: retry()'s backoff.
//
// Thread safety: thread-safe.
// Example: examples/patterns/flaky_service.cpp
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

#include "tether/core/task.hpp"
#include "tether/time/clock.hpp"

namespace tether {

struct RateLimiterOptions {
  std::string name = "rate";
  // Tokens added per `per`. Required: at least 1.
  std::size_t rate = 0;
  std::chrono::milliseconds per = std::chrono::seconds(1);
  // Most tokens held at once (the largest burst, and the largest n acquire() accepts). At least 1.
  std::size_t burst = 1;
};

struct RateLimiterMetrics {
  std::uint64_t granted = 0;  // tokens handed out
  std::uint64_t refused = 0;  // try_acquire() calls that got nothing
  std::uint64_t waits = 0;    // acquire() calls that had to sleep
};

// tether::RateLimiter
//
// Thread safety: thread-safe.
// Lifetime: must outlive every acquire() in progress.
//
// RateLimiter::acquire(n)
//
// Waits until `n` tokens are available, then takes them. Waiters are not queued: each sleeps
// until its tokens are due and then tries again, so under contention the grants keep the rate but
// not the arrival order.
// Throws: Error if n > burst (never satisfiable); Cancelled.
// Cancellation: Cancel-safe: nothing was consumed.
// Allocation: the coroutine frame.
//
// RateLimiter::try_acquire(n)
//
// Takes `n` tokens if they are available now; never waits. Returns whether it took them.
class RateLimiter {
 public:
  explicit RateLimiter(RateLimiterOptions options);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  [[nodiscard]] Task<void> acquire(std::size_t n = 1);
  bool try_acquire(std::size_t n = 1);
  // How long until `n` tokens are available (zero if they are now).
  Clock::duration time_until_available(std::size_t n = 1) const;
  RateLimiterMetrics metrics() const;
  const std::string& name() const noexcept { return options_.name; }

 private:
  // Takes n tokens and returns 0, or takes nothing and returns the nanoseconds until they are due.
  std::int64_t take_or_wait(std::size_t n, bool count_refusal);
  std::int64_t wait_locked(std::size_t n, std::int64_t now) const;

  // Constant after construction
  const RateLimiterOptions options_;
  const std::int64_t interval_ns_;   // time per token
  const std::int64_t tolerance_ns_;  // burst × interval

  mutable std::mutex mu_;
  // Guarded by mu_
  std::int64_t tat_ns_ = 0;  // theoretical arrival time: when the bucket will be full again
  RateLimiterMetrics metrics_;
};

}  // namespace tether

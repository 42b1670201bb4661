// tether/patterns/retry.hpp
//
// retry(op, policy): calls `co_await op()` until it succeeds, with exponential backoff and jitter
// between attempts, a bounded number of attempts, an optional overall time budget, and a predicate
// for which failures are worth retrying.
//
//   RetryPolicy   attempts, backoff (initial, multiplier, cap), jitter and its seed, budget, predicate
//   Backoff       the delay sequence a policy produces (deterministic for a given seed)
//   RetryEvent    what on_retry is told before each backoff
//   retry()       the loop
//
//   auto body = co_await tether::retry([&] { return client.get(url, Deadline::after(2s)); },
//                                      {.max_attempts = 5, .initial_delay = 50ms, .max_elapsed = 10s});
//
// Delay before retry k (k = 1 after the first failure): min(max_delay, initial_delay ×
// multiplier^(k-1)), then scaled by a factor drawn uniformly from [1 - jitter, 1 + jitter] and
// rounded to the millisecond. The draws come from a generator seeded by `seed` (a fresh random seed
// when unset), so a test that fixes the seed sees exact delays; Backoff reproduces them.
//
// When to use something else: a dependency that is down rather than flaky: put a CircuitBreaker
// inside the retried operation so attempts fail fast while it is open; limiting how often a
// service is called in general: RateLimiter.
//
// Guidance enforced: every wait is bounded (attempts, and max_elapsed for the whole), cancellation
// is honoured at once, even in the middle of a backoff.
//
// Thread safety: n/a (acts on the calling task); a RetryPolicy is a plain value.
// Cancellation: cancelling the caller stops at once: during an attempt, as the operation's; during
//   a backoff, the sleep throws Cancelled and no further attempt is made. Cancelled is never retried.
// Example: examples/patterns/flaky_service.cpp
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <random>
#include <type_traits>
#include <utility>

#include "tether/core/concepts.hpp"
#include "tether/core/error.hpp"
#include "tether/core/task.hpp"
#include "tether/time/clock.hpp"
#include "tether/time/deadline.hpp"
#include "tether/time/sleep.hpp"
#include "tether/time/timeout.hpp"

namespace tether {

// Passed to RetryPolicy::on_retry before each backoff.
struct RetryEvent {
  std::size_t attempt = 0;            // the attempt that just failed (1 = the first call)
  std::exception_ptr error;           // what it failed with
  std::chrono::milliseconds delay{};  // how long retry() now sleeps
};

struct RetryPolicy {
  // Attempts in all, counting the first call. At least 1.
  std::size_t max_attempts = 3;
  // Delay before the first retry; later delays grow by `multiplier` up to `max_delay`.
  std::chrono::milliseconds initial_delay = std::chrono::milliseconds(100);
  double multiplier = 2.0;
  std::chrono::milliseconds max_delay = std::chrono::seconds(10);
  // Spread of each delay, in [0, 1]: 0.2 scales it by a uniform factor in [0.8, 1.2]. Jitter keeps
  // many clients that failed together from retrying together.
  double jitter = 0.2;
  // Seed of the jitter's generator; unset: a fresh random seed per retry() call.
  std::optional<std::uint64_t> seed = {};
  // Budget for the whole retry() call, attempts and delays included; an attempt still running
  // when it runs out is cancelled (TimedOut "retry budget"), and no backoff that would end past it
  // is started (the last failure is rethrown). Zero: no budget beyond max_attempts.
  std::chrono::milliseconds max_elapsed = std::chrono::milliseconds(0);
  // Which failures are worth another attempt. Never sees Cancelled. Default: every exception.
  std::function<bool(const std::exception_ptr&)> retryable = {};
  // Called before each backoff (logging, metrics). Must not block.
  std::function<void(const RetryEvent&)> on_retry = {};
};

// tether::Backoff
//
// The delays of a RetryPolicy, in order: next() is the delay before retry 1, 2, ...
//
// Thread safety: thread-compatible.
class Backoff {
 public:
  explicit Backoff(const RetryPolicy& p)
      : initial_(static_cast<double>(p.initial_delay.count())),
        multiplier_(p.multiplier),
        max_(static_cast<double>(p.max_delay.count())),
        jitter_(p.jitter < 0   ? 0
                : p.jitter > 1 ? 1
                               : p.jitter),
        rng_(p.seed ? *p.seed : std::random_device{}()) {}

  std::chrono::milliseconds next() {
    double base = initial_ * std::pow(multiplier_, static_cast<double>(k_++));
    if (base > max_) base = max_;
    if (jitter_ > 0) {
      // 53 random bits as a double in [0, 1): the same on every standard library (unlike
      // std::uniform_real_distribution), so seeded delays are portable.
      double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
      base *= 1.0 - jitter_ + 2.0 * jitter_ * u;
    }
    return std::chrono::milliseconds(base <= 0 ? 0 : std::llround(base));
  }

 private:
  double initial_, multiplier_, max_, jitter_;
  std::mt19937_64 rng_;
  std::uint64_t k_ = 0;
};

// retry()
//
// Calls `co_await op()` (op: a callable returning an awaitable, called afresh for each attempt)
// until it succeeds, the attempts or the budget run out, or a failure is not retryable.
// Returns: the first successful result | Throws: the last failure; TimedOut("retry budget") if the
// budget ran out during an attempt; Error for an invalid policy; Cancelled if the caller was.
// Allocation: the coroutine frame (and a timeout scope per attempt when max_elapsed is set).
template <class F>
auto retry(F op, RetryPolicy policy) -> Task<await_result_t<std::invoke_result_t<F&>>> {
  using R = await_result_t<std::invoke_result_t<F&>>;
  if (policy.max_attempts == 0) throw Error("retry: max_attempts must be at least 1");
  if (policy.multiplier < 1.0) throw Error("retry: multiplier must be at least 1");
  Backoff backoff(policy);
  std::optional<Deadline> budget;
  if (policy.max_elapsed.count() > 0) budget = Deadline::after(policy.max_elapsed);
  for (std::size_t attempt = 1;; ++attempt) {
    std::exception_ptr error;
    try {
      if constexpr (std::is_void_v<R>) {
        if (budget) {
          co_await timeout_at(*budget, op(), "retry budget");
        } else {
          co_await op();
        }
        co_return;
      } else {
        if (budget) co_return co_await timeout_at(*budget, op(), "retry budget");
        co_return co_await op();
      }
    } catch (const Cancelled&) {
      throw;  // the caller was cancelled: stop now
    } catch (...) {
      error = std::current_exception();
    }
    bool again = attempt < policy.max_attempts && !(budget && budget->expired());
    if (again && policy.retryable) {
      try {
        again = policy.retryable(error);
      } catch (...) {
        again = false;
      }
    }
    if (!again) std::rethrow_exception(error);
    std::chrono::milliseconds delay = backoff.next();
    if (budget && Clock::now() + delay >= budget->instant()) std::rethrow_exception(error);
    if (policy.on_retry) policy.on_retry(RetryEvent{attempt, error, delay});
    co_await sleep(delay);  // Cancel-safe: a cancelled backoff throws Cancelled here
  }
}
// With the default policy. (An overload, not a default argument: see Pipeline::stage.)
template <class F>
auto retry(F op) -> Task<await_result_t<std::invoke_result_t<F&>>> {
  return retry(std::move(op), RetryPolicy{});
}

}  // namespace tether

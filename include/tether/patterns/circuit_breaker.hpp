// tether/patterns/circuit_breaker.hpp
//
// CircuitBreaker: stops calling a dependency that keeps failing (or keeps being slow), fails fast
// while it is open, and lets a few trial calls through after a pause to see whether it recovered.
//
//   CircuitBreaker          the breaker; call(op) runs op through it
//   CircuitBreakerOptions   window, thresholds, open duration, trial calls, failure predicate, logger
//   CircuitState            kClosed | kOpen | kHalfOpen
//   CircuitBreakerMetrics   a snapshot: state, call counts, transition counts, current rates
//   CircuitOpen             thrown (derived from tether::Error) when the breaker rejects a call
//   WindowKind              kCount (the last N calls) | kTime (the calls of the last D)
//
//   tether::CircuitBreaker breaker({.name = "inventory", .failure_rate_threshold = 0.5,
//                                   .open_duration = 10s});
//   auto stock = co_await breaker.call([&] { return inventory.get(sku, Deadline::after(2s)); });
//
// States (the transitions are numbered; the code refers to them):
//   kClosed    calls go through and are recorded in a sliding window. (T1) Once the window holds at
//              least `minimum_calls` calls and the failure rate or the slow-call rate reaches its
//              threshold, the breaker opens.
//   kOpen      every call fails at once with CircuitOpen; the operation is never invoked.
//              (T2) After `open_duration`, the next call (or state() / metrics()) moves it to
//              half-open.
//   kHalfOpen  exactly `half_open_calls` trial calls are admitted; more are rejected with
//              CircuitOpen. (T3) When every trial call has finished, the rates over the trials decide:
//              a threshold reached opens the breaker again, otherwise it closes with a fresh window.
// A call that started in one state and finishes after a transition is counted in the totals but not
// in the new state's window (each state has an epoch). A call ended by Cancelled is not an outcome
// of the dependency: it is not recorded, and a half-open trial slot it held is given back.
// Each transition is logged (open at warn, the others at info) with the rates that caused it,
// counted in the metrics, and reported to `on_state_change`.
//
// When to use something else: retrying a transient failure: retry() (retry.hpp), which composes
// with a breaker (retry outside, breaker inside: an open breaker makes each attempt fail fast);
// bounding concurrent calls: Bulkhead; bounding their rate: RateLimiter.
//
// Guidance enforced: stop calling a failing service (guidance §6.3), fail fast instead of piling up
// waiting calls; state changes are logged and counted (observability).
//
// Thread safety: thread-safe: any number of tasks on any workers may call through one breaker. The
//   breaker's state is guarded by a mutex that is never held across an await (or while logging).
// Lifetime: must outlive every call() in progress.
// Example: examples/patterns/flaky_service.cpp
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tether/core/concepts.hpp"
#include "tether/core/error.hpp"
#include "tether/core/task.hpp"
#include "tether/time/clock.hpp"

namespace spdlog {
class logger;
}

namespace tether {

enum class CircuitState : std::uint8_t { kClosed, kOpen, kHalfOpen };

// "closed", "open", "half-open".
std::string_view to_string(CircuitState s) noexcept;

// Thrown instead of calling the operation while the breaker is open (or half-open with every trial
// slot taken). retry_after() is how long until the breaker admits trial calls (zero when half-open).
class CircuitOpen : public Error {
 public:
  CircuitOpen(std::string breaker, Clock::duration retry_after);
  const std::string& breaker() const noexcept { return breaker_; }
  Clock::duration retry_after() const noexcept { return retry_after_; }

 private:
  std::string breaker_;
  Clock::duration retry_after_;
};

enum class WindowKind : std::uint8_t {
  kCount,  // the last `window_size` calls
  kTime,   // the calls of the last `window_duration` (kept in 10 buckets: a call leaves the window
           // between 0.9 and 1.0 times window_duration after it finished)
};

struct CircuitBreakerOptions {
  // Shown in logs, metrics and CircuitOpen.
  std::string name = "circuit";
  WindowKind window = WindowKind::kCount;
  // kCount: how many of the latest calls the rates are computed over. Larger: steadier, slower to react.
  std::size_t window_size = 100;
  // kTime: how far back the rates look.
  std::chrono::milliseconds window_duration = std::chrono::seconds(60);
  // No rate is judged before the window holds this many calls (for kCount, at most window_size).
  std::size_t minimum_calls = 10;
  // Open when failures / calls >= this, in (0, 1].
  double failure_rate_threshold = 0.5;
  // Open when slow calls / calls >= this; a value above 1 disables the slow-call rule.
  double slow_call_rate_threshold = 1.0;
  // A call that takes at least this long (success or failure) is slow.
  std::chrono::milliseconds slow_call_duration = std::chrono::seconds(60);
  // How long the breaker stays open before it admits trial calls.
  std::chrono::milliseconds open_duration = std::chrono::seconds(30);
  // Trial calls admitted in half-open; all must finish before the breaker decides. At least 1.
  std::size_t half_open_calls = 3;
  // Which exceptions count as failures of the dependency (the others count as successes: a
  // "not found" is an answer). Never sees Cancelled. Default: every exception.
  std::function<bool(const std::exception_ptr&)> is_failure = {};
  // Where transitions are logged. Default: the current runtime's logger (spdlog's default outside one).
  std::shared_ptr<spdlog::logger> logger = {};
  // Called after each transition, outside the breaker's lock, on the task that caused it.
  std::function<void(CircuitState from, CircuitState to)> on_state_change = {};
};

// A snapshot; totals count since construction.
struct CircuitBreakerMetrics {
  CircuitState state = CircuitState::kClosed;
  std::uint64_t successful_calls = 0;
  std::uint64_t failed_calls = 0;
  std::uint64_t slow_calls = 0;      // also counted as successful or failed
  std::uint64_t rejected_calls = 0;  // CircuitOpen, the operation not called
  std::uint64_t opened = 0;          // transitions to kOpen
  std::uint64_t half_opened = 0;     // transitions to kHalfOpen
  std::uint64_t closed = 0;          // transitions to kClosed
  std::size_t window_calls = 0;      // calls in the current window (closed) or finished trials (half-open)
  double failure_rate = 0;           // over window_calls
  double slow_call_rate = 0;
};

// tether::CircuitBreaker
//
// See the top of this header for the states and transitions.
//
// Thread safety: thread-safe.
// Memory ordering: the breaker's mutex orders a call's recorded outcome before any later decision
//   that counts it.
// Lifetime: must outlive every call() in progress.
// Example: examples/patterns/flaky_service.cpp
//
// CircuitBreaker::call(op)
//
// Asks the breaker for admission; if admitted, runs `co_await op()` and records its outcome (and
// duration, for the slow-call rule). `op` is a callable returning an awaitable (usually a Task).
// Returns: what the operation returns | Throws: CircuitOpen without calling op when the breaker is
// open; otherwise whatever op throws, after recording it.
// Cancellation: as the operation's (cancelling the caller cancels op; the call is not recorded).
// Allocation: the coroutine frame.
class CircuitBreaker {
 public:
  explicit CircuitBreaker(CircuitBreakerOptions options);
  CircuitBreaker() : CircuitBreaker(CircuitBreakerOptions{}) {}
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;
  ~CircuitBreaker();

  template <class F>
  auto call(F op) -> Task<await_result_t<std::invoke_result_t<F&>>>;

  // The current state (moving an expired kOpen to kHalfOpen first, T2).
  CircuitState state();
  CircuitBreakerMetrics metrics();
  const std::string& name() const noexcept { return options_.name; }
  // Back to kClosed with an empty window (an operator's override; logged and counted).
  void reset();

 private:
  enum class Kind : std::uint8_t { kSuccess, kFailure, kIgnored };
  struct Ticket {
    std::uint64_t epoch = 0;
    bool trial = false;
  };
  // Records kIgnored unless the call reported an outcome (a frame destroyed mid-call, say).
  class CallGuard {
   public:
    CallGuard(CircuitBreaker* b, Ticket t) noexcept : b_(b), t_(t), start_(Clock::now()) {}
    CallGuard(const CallGuard&) = delete;
    CallGuard& operator=(const CallGuard&) = delete;
    ~CallGuard() {
      if (b_) b_->complete(t_, Kind::kIgnored, Clock::duration::zero());
    }
    void finish(Kind k) noexcept { std::exchange(b_, nullptr)->complete(t_, k, Clock::now() - start_); }

   private:
    CircuitBreaker* b_;
    Ticket t_;
    Instant start_;
  };
  struct Window;
  struct Transition {
    CircuitState from, to;
    std::string why;
  };

  Ticket admit();  // throws CircuitOpen
  void complete(Ticket t, Kind k, Clock::duration elapsed) noexcept;
  Kind classify(const std::exception_ptr& e) const noexcept;
  // Guarded by mu_ (caller holds it).
  void transition_locked(CircuitState to, Instant now, std::string why, std::vector<Transition>& out);
  void maybe_half_open_locked(Instant now, std::vector<Transition>& out);
  void announce(std::vector<Transition>& ts) noexcept;  // outside mu_

  // Constant after construction
  const CircuitBreakerOptions options_;

  mutable std::mutex mu_;
  // Guarded by mu_
  CircuitState state_ = CircuitState::kClosed;
  std::uint64_t epoch_ = 0;
  Instant open_until_{};
  std::unique_ptr<Window> window_;
  std::size_t trials_started_ = 0;
  std::size_t trials_done_ = 0;
  std::size_t trial_failures_ = 0;
  std::size_t trial_slow_ = 0;
  CircuitBreakerMetrics totals_;
};

template <class F>
auto CircuitBreaker::call(F op) -> Task<await_result_t<std::invoke_result_t<F&>>> {
  using R = await_result_t<std::invoke_result_t<F&>>;
  CallGuard guard(this, admit());
  std::exception_ptr error;
  Kind kind = Kind::kSuccess;
  std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> value;
  try {
    if constexpr (std::is_void_v<R>) {
      co_await op();
      value.emplace(true);
    } else {
      value.emplace(co_await op());
    }
  } catch (const Cancelled&) {
    error = std::current_exception();
    kind = Kind::kIgnored;
  } catch (...) {
    error = std::current_exception();
    kind = classify(error);
  }
  guard.finish(kind);
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<R>) co_return std::move(*value);
}

}  // namespace tether

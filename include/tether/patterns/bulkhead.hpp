// tether/patterns/bulkhead.hpp
//
// Bulkhead: a named concurrency limit with a bounded waiting queue. At most `max_concurrent`
// calls run through it at once, at most `max_waiting` more wait for a slot, and anything past that
// is turned away at once with a BulkheadRejected value, so one slow dependency cannot soak up every
// task (or every connection) of the process.
//
//   Bulkhead           the compartment; acquire(), try_acquire(), run(op)
//   BulkheadOptions    name, max_concurrent, max_waiting, max_wait
//   BulkheadRejected   the named outcome of a call that was turned away (kQueueFull | kTimedOut)
//   BulkheadMetrics    a snapshot: running, waiting, admitted, rejected
//
//   tether::Bulkhead payments({.name = "payments", .max_concurrent = 8, .max_waiting = 32});
//   auto r = co_await payments.run([&] { return charge(order); });
//   if (!r) return reply_busy(r.error());      // turned away: a value, not an exception
//
// When to use something else: a plain limit where waiting callers may queue without bound (they
// are suspended tasks, bounded by whoever spawned them): Semaphore; limiting the rate rather than
// the concurrency: RateLimiter; a limit over one batch of items: map_concurrent.
//
// Guidance enforced: bounded concurrency and bounded queues (no thread- or task-per-request pile-
// up); rejection is a normal, named outcome, so callers handle it (Expected is [[nodiscard]]).
//
// Thread safety: thread-safe.
// Example: examples/patterns/flaky_service.cpp
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "tether/channel/error.hpp"
#include "tether/core/concepts.hpp"
#include "tether/core/error.hpp"
#include "tether/core/task.hpp"
#include "tether/sync/semaphore.hpp"

namespace tether {

struct BulkheadOptions {
  std::string name = "bulkhead";
  // Calls running at once. Required: at least 1.
  std::size_t max_concurrent = 0;
  // Calls waiting for a slot; the next one is rejected with kQueueFull. 0: never wait.
  std::size_t max_waiting = 0;
  // How long a call may wait for a slot before it is rejected with kTimedOut; unset: as long as it
  // takes (the queue is still bounded by max_waiting).
  std::optional<std::chrono::milliseconds> max_wait = {};
};

// The named outcome of a call the bulkhead turned away.
struct BulkheadRejected {
  enum class Reason : std::uint8_t { kQueueFull, kTimedOut };
  std::string bulkhead;
  Reason reason = Reason::kQueueFull;
};

struct BulkheadMetrics {
  std::size_t running = 0;
  std::size_t waiting = 0;
  std::uint64_t admitted = 0;
  std::uint64_t rejected_queue_full = 0;
  std::uint64_t rejected_timed_out = 0;
};

// tether::Bulkhead
//
// Thread safety: thread-safe.
// Lifetime: must outlive every Permit and every acquire()/run() in progress.
//
// Bulkhead::acquire()
//
// A slot now if one is free; else waits in the queue (FIFO) if it has room, up to max_wait.
// Returns: Expected<Permit, BulkheadRejected>: the permit (the slot is freed when it is
// destroyed) or why the call was turned away. Throws: Cancelled.
// Cancellation: Cancel-safe, but loses its place in the wait queue.
//
// Bulkhead::run(op)
//
// acquire(), then `co_await op()` holding the slot. Returns: Expected<R, BulkheadRejected> (op
// is not called when rejected) | Throws: what op throws; Cancelled.
// Cancellation: as the operation's once admitted; before that, as acquire().
class Bulkhead {
 public:
  using Permit = sync::Semaphore::Permit;

  explicit Bulkhead(BulkheadOptions options);
  Bulkhead(const Bulkhead&) = delete;
  Bulkhead& operator=(const Bulkhead&) = delete;

  [[nodiscard]] Task<Expected<Permit, BulkheadRejected>> acquire();
  // A slot if one is free now; never waits, never queues.
  std::optional<Permit> try_acquire();

  template <class F>
  auto run(F op) -> Task<Expected<await_result_t<std::invoke_result_t<F&>>, BulkheadRejected>>;

  BulkheadMetrics metrics() const noexcept;
  const std::string& name() const noexcept { return options_.name; }

 private:
  // Constant after construction
  const BulkheadOptions options_;
  sync::Semaphore slots_;
  // Atomic: counters only; no ordering with other data is needed, so relaxed (the semaphore
  // orders the slots themselves). waiting_ is also the queue's admission check (fetch_add).
  std::atomic<std::size_t> waiting_{0};
  std::atomic<std::uint64_t> admitted_{0};
  std::atomic<std::uint64_t> rejected_full_{0};
  std::atomic<std::uint64_t> rejected_timeout_{0};
};

template <class F>
auto Bulkhead::run(F op) -> Task<Expected<await_result_t<std::invoke_result_t<F&>>, BulkheadRejected>> {
  using R = await_result_t<std::invoke_result_t<F&>>;
  using E = Expected<R, BulkheadRejected>;
  auto slot = co_await acquire();
  if (!slot) co_return E::failure(std::move(slot).error());
  Permit held = std::move(slot).value();
  if constexpr (std::is_void_v<R>) {
    co_await op();
    co_return E::success();
  } else {
    co_return E::success(co_await op());
  }
}

}  // namespace tether

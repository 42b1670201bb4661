// Bulkhead: a Semaphore for the slots, plus an atomic count of waiters that bounds the queue.
#include "tether/patterns/bulkhead.hpp"

#include "tether/core/scope_exit.hpp"
#include "tether/time/timeout.hpp"

namespace tether {

namespace {
const BulkheadOptions& validated(const BulkheadOptions& o) {
  if (o.max_concurrent == 0) throw Error("Bulkhead: max_concurrent must be at least 1");
  return o;
}
}  // namespace

Bulkhead::Bulkhead(BulkheadOptions options) : options_(validated(options)), slots_(options_.max_concurrent) {}

std::optional<Bulkhead::Permit> Bulkhead::try_acquire() {
  auto p = slots_.try_acquire();
  if (p) admitted_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  return p;
}

Task<Expected<Bulkhead::Permit, BulkheadRejected>> Bulkhead::acquire() {
  using E = Expected<Permit, BulkheadRejected>;
  if (auto p = try_acquire()) co_return E::success(std::move(*p));
  // relaxed: the count itself is the admission decision; nothing else is published through it.
  if (waiting_.fetch_add(1, std::memory_order_relaxed) >= options_.max_waiting) {
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    rejected_full_.fetch_add(1, std::memory_order_relaxed);
    co_return E::failure(BulkheadRejected{options_.name, BulkheadRejected::Reason::kQueueFull});
  }
  std::optional<Permit> permit;
  bool timed_out = false;
  {
    ScopeExit leave([this]() noexcept { waiting_.fetch_sub(1, std::memory_order_relaxed); });
    if (options_.max_wait) {
      try {
        permit.emplace(co_await timeout(*options_.max_wait, slots_.acquire(), "bulkhead " + options_.name));
      } catch (const TimedOut&) {
        timed_out = true;
      }
    } else {
      permit.emplace(co_await slots_.acquire());
    }
  }
  if (timed_out) {
    rejected_timeout_.fetch_add(1, std::memory_order_relaxed);
    co_return E::failure(BulkheadRejected{options_.name, BulkheadRejected::Reason::kTimedOut});
  }
  admitted_.fetch_add(1, std::memory_order_relaxed);
  co_return E::success(std::move(*permit));
}

BulkheadMetrics Bulkhead::metrics() const noexcept {
  BulkheadMetrics m;
  std::size_t free = slots_.available_permits();
  m.running = free >= options_.max_concurrent ? 0 : options_.max_concurrent - free;
  m.waiting = waiting_.load(std::memory_order_relaxed);
  m.admitted = admitted_.load(std::memory_order_relaxed);
  m.rejected_queue_full = rejected_full_.load(std::memory_order_relaxed);
  m.rejected_timed_out = rejected_timeout_.load(std::memory_order_relaxed);
  return m;
}

}  // namespace tether

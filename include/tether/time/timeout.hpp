// tether/time/timeout.hpp
//
// timeout(d, op, what) and timeout_at(deadline, op, what): run an awaitable with a time bound. When
// the time runs out, the operation is cancelled (its suspension point wakes with Cancelled, its
// cleanup runs) and the caller gets TimedOut naming `what`. Only the operation is cancelled: the
// calling task carries on. Timeouts nest, and the one whose time ran out is the one that reports.
//
//   co_await tether::timeout(2s, rx.recv(), "recv order");
//
// When to use something else: if the operation takes a Deadline itself (every tether I/O call
// does), pass it the deadline; to stop on request rather than time, a CancellationToken.
//
// Thread safety: n/a (acts on the calling task).
// Cancellation: as the wrapped operation's (cancelling the caller cancels the operation).
// Allocation: one small scope node per call (from the frame allocator), plus the coroutine frame.
// Example: examples/time/timeouts.cpp
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "tether/core/concepts.hpp"
#include "tether/core/detail/runtime_core.hpp"
#include "tether/core/error.hpp"
#include "tether/core/shield.hpp"
#include "tether/core/task.hpp"
#include "tether/time/clock.hpp"
#include "tether/time/deadline.hpp"

namespace tether {

namespace detail {

// A scope whose timer cancels it. `fired` is written under the wheel's lock and read after
// remove_timer() (which takes the same lock).
class TimeoutScope final : public ScopeState {
 public:
  explicit TimeoutScope(CancelState* parent) : ScopeState(parent, false) { entry_.owner = this; }

  // Arms the timer; a deadline already passed cancels at once.
  void arm(RuntimeCore* core, Instant deadline) noexcept {
    core_ = core;
    if (deadline == Instant::max()) return;
    entry_.deadline_ms = to_ms(deadline);
    entry_.fire = &TimeoutScope::fire;
    add_ref();  // the wheel's reference, dropped by disarm() or by the firing
    if (core->add_timer(&entry_)) {
      armed_ = true;
      return;
    }
    release();
    fired_ = true;
    cancel();
  }
  void disarm() noexcept {
    if (!armed_) return;
    armed_ = false;
    core_->remove_timer(&entry_);
    // Under the wheel's lock, fire() either ran (and took over the wheel's reference) or will not.
    if (!fired_) release();
  }
  bool fired() const noexcept { return fired_; }

 private:
  struct Entry : TimerEntry {
    TimeoutScope* owner = nullptr;
  };
  static bool fire(TimerEntry* e, FiredBatch& batch) noexcept {
    TimeoutScope* self = static_cast<Entry*>(e)->owner;
    self->fired_ = true;
    batch.cancel[batch.n_cancel++] = self;  // the wheel's reference goes with it
    return false;
  }

  Entry entry_;
  RuntimeCore* core_ = nullptr;
  bool armed_ = false;
  bool fired_ = false;  // Access: under the wheel's lock, or after disarm()
};

}  // namespace detail

// timeout_at()
//
// Runs `op` until `deadline`. Returns what op returns | Throws: TimedOut("<what>") when the
// deadline passes first; what op throws; Cancelled if the caller is cancelled.
template <Awaitable A>
Task<await_result_t<A>> timeout_at(Deadline deadline, A op, std::string what = "operation") {
  detail::TaskHeader* self = detail::require_task("timeout()");
  auto* scope = new detail::TimeoutScope(self->scope);
  detail::ScopeSwap swap(self, scope);
  scope->arm(self->core(), deadline.instant());
  struct Disarm {
    detail::TimeoutScope* s;
    ~Disarm() { s->disarm(); }
  } disarm{scope};
  try {
    co_return co_await std::move(op);
  } catch (const Cancelled&) {
    scope->disarm();
    // Ours fired and nothing outside us was cancelled: this is our timeout, not someone else's.
    if (!scope->fired() || swap.previous()->is_cancelled()) throw;
    throw TimedOut(what);
  }
}

// timeout()
//
// Runs `op` for at most `d`. Same results and errors as timeout_at().
template <Awaitable A, class Rep, class Period>
Task<await_result_t<A>> timeout(std::chrono::duration<Rep, Period> d, A op, std::string what = "operation") {
  return timeout_at(Deadline::after(d), std::move(op), std::move(what));
}

}  // namespace tether

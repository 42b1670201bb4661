// tether/sync/notify.hpp
//
// Notify: wakes tasks that wait for "something happened", with no data attached. The building
// block for custom primitives (a task that sleeps until a queue is non-empty, a config reload).
//
//   Notify           notify_one(), notify_all(), notified()
//
// Permit semantics (after Tokio's Notify):
//   - notify_one() wakes the longest-waiting task. If no task is waiting, it stores ONE permit;
//     the next notified() completes at once and consumes it. Permits do not accumulate: two
//     notify_one() calls with nobody waiting leave one permit.
//   - notify_all() wakes every task waiting now, and every Notified awaitable created (by
//     notified()) before the call, even if it has not been awaited yet; it stores no permit.
//     So the pattern `auto n = notify.notified(); if (!condition()) co_await n;` never misses a
//     notify_all() that happens between the check and the await.
//   - A notification is consumed only by a waiter that completes: a cancelled notified() takes
//     nothing (a notify_one() that raced with the cancellation goes to the next waiter, or is
//     stored as the permit).
//
// Which to use: to hand over a value, a channel (tether/channel/) or watch; to wait for N events,
// Latch; to let N tasks meet, Barrier.
//
// Example: tests/sync/notify_test.cpp
#pragma once

#include <cstdint>
#include <mutex>

#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/detail/waiter.hpp"
#include "tether/sync/detail/wait_queue.hpp"

namespace tether::sync {

// tether::sync::Notify
//
// Thread safety: thread-safe.
// Memory ordering: what a task did before notify_one()/notify_all() is visible to the task whose
//   notified() completes because of it.
// Lifetime: must outlive every Notified awaitable.
class Notify {
 public:
  using Notified = tether::detail::WaitQueueAwaiter<Notify>;

  Notify() noexcept = default;
  Notify(const Notify&) = delete;
  Notify& operator=(const Notify&) = delete;

  // Wakes the first waiter, or stores the permit if none waits.
  void notify_one() noexcept {
    tether::detail::Waiter* w;
    {
      std::lock_guard<tether::detail::SpinLock> g(mu_);
      w = queue_.pop_notify();
      if (!w) permit_ = true;
    }
    if (w) w->wake();
  }

  // Wakes every waiter, and every Notified created before this call.
  void notify_all() noexcept {
    tether::detail::WaitList woken;
    {
      std::lock_guard<tether::detail::SpinLock> g(mu_);
      ++generation_;
      while (tether::detail::Waiter* w = queue_.pop_notify()) woken.push_back(w);
    }
    // The popped waiters accepted (claim_notify), so no one else touches their links now.
    while (tether::detail::Waiter* w = woken.pop_front()) w->wake();
  }

  // Notify::notified()
  //
  // Completes when notified (see the permit semantics above).
  // Throws: tether::Cancelled.
  // Cancellation: Cancel-safe: nothing was consumed.
  // Allocation: never allocates.
  [[nodiscard]] Notified notified() noexcept {
    Notified n(*this, "notify");
    std::lock_guard<tether::detail::SpinLock> g(mu_);
    n.cookie = generation_;
    return n;
  }

  // WaitQueueAwaiter's owner interface.
  tether::detail::SpinLock& lock() noexcept { return mu_; }
  tether::detail::WaitList& waiters() noexcept { return queue_; }
  bool ready(Notified& n) noexcept {
    if (n.cookie != generation_) return true;  // a notify_all() since notified() was called
    if (permit_) {
      permit_ = false;
      return true;
    }
    return false;
  }
  bool ready_fast(Notified& n) noexcept { return ready(n); }
  void on_cancel(Notified&) noexcept {}

 private:
  tether::detail::SpinLock mu_;
  // Guarded by mu_
  tether::detail::WaitList queue_;
  std::uint64_t generation_ = 0;  // notify_all() calls
  bool permit_ = false;
};

}  // namespace tether::sync

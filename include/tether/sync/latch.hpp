// tether/sync/latch.hpp
//
// Latch: a single-use countdown. Tasks wait until the count reaches zero; anyone may count down.
// The async counterpart of std::latch ("start when the N workers are ready", "wait for N
// completions" without join handles).
//
//   Latch   count_down(n), wait(), arrive_and_wait(n), try_wait()
//
// Which to use: to wait for spawned tasks, their JoinHandles or a JoinSet (tether/task/); to let
// a fixed group meet repeatedly, Barrier; for a one-time value, OnceCell.
//
// Example: tests/sync/latch_test.cpp
#pragma once

#include <cstddef>
#include <mutex>

#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/detail/waiter.hpp"
#include "tether/sync/detail/wait_queue.hpp"

namespace tether::sync {

// tether::sync::Latch
//
// Thread safety: thread-safe.
// Memory ordering: everything done before a count_down() is visible to a task whose wait()
//   returns because the count reached zero.
// Lifetime: must outlive every waiting wait().
class Latch {
 public:
  using Wait = tether::detail::WaitQueueAwaiter<Latch>;

  explicit Latch(std::size_t count) noexcept : count_(count) {}
  Latch(const Latch&) = delete;
  Latch& operator=(const Latch&) = delete;

  // Subtracts `n` (saturating at zero); reaching zero releases every waiter.
  void count_down(std::size_t n = 1) noexcept {
    tether::detail::WaitList woken;
    {
      std::lock_guard<tether::detail::SpinLock> g(mu_);
      if (count_ == 0) return;
      count_ = n >= count_ ? 0 : count_ - n;
      if (count_ != 0) return;
      while (tether::detail::Waiter* w = queue_.pop_notify()) woken.push_back(w);
    }
    while (tether::detail::Waiter* w = woken.pop_front()) w->wake();
  }

  // True once the count is zero; never suspends.
  bool try_wait() const noexcept {
    std::lock_guard<tether::detail::SpinLock> g(mu_);
    return count_ == 0;
  }

  // Latch::wait()
  //
  // Completes when the count is zero (at once if it is).
  // Throws: tether::Cancelled.
  // Cancellation: Cancel-safe: nothing was consumed.
  // Allocation: never allocates.
  [[nodiscard]] Wait wait() noexcept { return Wait(*this, "latch"); }

  // Latch::arrive_and_wait()
  //
  // count_down(n), then wait().
  // Throws: tether::Cancelled.
  // Cancellation: Not cancel-safe: the count_down already happened; use count_down() and wait()
  //   separately if the arrival must depend on the wait.
  [[nodiscard]] Wait arrive_and_wait(std::size_t n = 1) noexcept {
    count_down(n);
    return wait();
  }

  // WaitQueueAwaiter's owner interface.
  tether::detail::SpinLock& lock() const noexcept { return mu_; }
  tether::detail::WaitList& waiters() noexcept { return queue_; }
  bool ready(Wait&) const noexcept { return count_ == 0; }
  bool ready_fast(Wait& w) const noexcept { return ready(w); }
  void on_cancel(Wait&) noexcept {}

 private:
  mutable tether::detail::SpinLock mu_;
  // Guarded by mu_
  std::size_t count_;
  tether::detail::WaitList queue_;
};

}  // namespace tether::sync

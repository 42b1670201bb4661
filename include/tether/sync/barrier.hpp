// tether/sync/barrier.hpp
//
// Barrier: lets a fixed number of tasks meet, repeatedly. Each wait() blocks until `n` tasks have
// called it; then all are released together, one of them is told it is the leader, and the
// barrier is ready for the next round.
//
//   Barrier             wait()
//   BarrierWaitResult   is_leader()
//
// Which to use: a one-time countdown, Latch; waiting for tasks to finish, their JoinHandles.
//
// Example: tests/sync/barrier_test.cpp
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>

#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/detail/waiter.hpp"
#include "tether/sync/detail/wait_queue.hpp"

namespace tether::sync {

class BarrierWaitResult {
 public:
  explicit BarrierWaitResult(bool leader) noexcept : leader_(leader) {}
  // Exactly one task per round is the leader: the one whose arrival completed the round.
  bool is_leader() const noexcept { return leader_; }

 private:
  bool leader_;
};

// tether::sync::Barrier
//
// Thread safety: thread-safe.
// Memory ordering: everything each task did before its wait() is visible to every task after
//   the round's wait() returns.
// Lifetime: must outlive every waiting wait().
class Barrier {
 public:
  explicit Barrier(std::size_t n) noexcept : n_(n ? n : 1) {}
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  using Inner = tether::detail::WaitQueueAwaiter<Barrier>;

  class Wait {
   public:
    explicit Wait(Barrier& b) noexcept : inner_(b, "barrier") {}
    bool await_ready() { return inner_.await_ready(); }
    bool await_suspend(std::coroutine_handle<> h) { return inner_.await_suspend(h); }
    BarrierWaitResult await_resume() {
      inner_.await_resume();
      return BarrierWaitResult(inner_.flag);
    }

   private:
    Inner inner_;
  };

  // Barrier::wait()
  //
  // Arrives and waits for the round to complete.
  // Returns: whether this task is the round's leader. Throws: tether::Cancelled.
  // Cancellation: Cancel-safe: nothing was consumed. (The arrival is withdrawn, unless the round
  //   completed at the same instant: then the wait had already counted and the round went on.)
  // Allocation: never allocates.
  [[nodiscard]] Wait wait() noexcept { return Wait(*this); }

  // WaitQueueAwaiter's owner interface.
  tether::detail::SpinLock& lock() noexcept { return mu_; }
  tether::detail::WaitList& waiters() noexcept { return queue_; }
  // Under mu_, from await_suspend: counts the arrival; the awaiter queues in the same critical
  // section if the round is not complete.
  bool ready(Inner& w) noexcept {
    if (++arrived_ < n_) return false;
    // The leader: release the round.
    arrived_ = 0;
    w.flag = true;
    tether::detail::WaitList woken;
    while (tether::detail::Waiter* x = queue_.pop_notify()) woken.push_back(x);
    // Waking under mu_ is allowed (wake() only touches the scheduler's queues).
    while (tether::detail::Waiter* x = woken.pop_front()) x->wake();
    return true;
  }
  bool ready_fast(Inner&) noexcept { return false; }  // arrive and queue in one critical section
  void on_cancel(Inner&) noexcept { --arrived_; }

 private:
  const std::size_t n_;  // Constant after construction
  tether::detail::SpinLock mu_;
  // Guarded by mu_
  std::size_t arrived_ = 0;
  tether::detail::WaitList queue_;
};

}  // namespace tether::sync

// Internal; not part of the public API.
//
// WaitGroup: a count of live members and the tasks waiting for it to reach zero, plus an optional
// limit on the count with FIFO waiters for room. Used by TaskTracker, JoinSet and scopes.
// Protocol: every field is guarded by mu_; waiters follow waiter.hpp (claimed exactly once; a
// cancelled waiter unlinks itself under mu_).
#pragma once

#include <coroutine>
#include <cstddef>
#include <mutex>
#include <vector>

#include "tether/core/detail/task_header.hpp"
#include "tether/core/error.hpp"

namespace tether::detail {

class WaitGroup {
 public:
  explicit WaitGroup(std::size_t limit = 0) : limit_(limit) {}

  // Adds a member if the limit allows. Returns false when full.
  bool try_add() {
    std::lock_guard<SpinLock> g(mu_);
    if (limit_ && count_ >= limit_) return false;
    ++count_;
    return true;
  }
  // Adds a member regardless of the limit.
  void add() {
    std::lock_guard<SpinLock> g(mu_);
    ++count_;
  }
  // Removes a member: hands its room to the oldest task waiting for room, and wakes the tasks
  // waiting for zero when it was the last.
  void done() {
    Waiter* room = nullptr;
    std::vector<Waiter*> zero;
    {
      std::lock_guard<SpinLock> g(mu_);
      --count_;
      if ((room = room_waiters_.pop_notify())) ++count_;  // the room passes straight to the waiter
      if (count_ == 0) {
        // Claimed under the lock, woken after it: a claimed waiter's task cannot run (and destroy
        // it) before its wake.
        while (Waiter* w = zero_waiters_.pop_notify()) zero.push_back(w);
      }
    }
    if (room) room->wake();
    for (Waiter* w : zero) w->wake();
  }
  std::size_t count() const {
    std::lock_guard<SpinLock> g(mu_);
    return count_;
  }

  // co_await wait_zero(): until the count is zero. Cancel-safe: nothing was consumed.
  // co_await wait_room(): until a member can be added (and adds it). Cancel-safe, but loses its
  // place in the wait queue.
  class Awaiter {
   public:
    Awaiter(WaitGroup& g, bool room) noexcept : g_(g), room_(room) {}
    Awaiter(const Awaiter&) = delete;
    Awaiter& operator=(const Awaiter&) = delete;
    // Only before it is awaited (to pass it by value, e.g. to shield()).
    Awaiter(Awaiter&& o) noexcept : g_(o.g_), room_(o.room_) {}
    ~Awaiter() { unlink(); }
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) {
      TaskHeader* self = current_task();
      if (!self) throw Error("awaited outside a tether task");
      self->waiting_on = room_ ? "room in task group" : "task group to finish";
      std::lock_guard<SpinLock> lock(g_.mu_);
      bool ready = room_ ? (g_.limit_ == 0 || g_.count_ < g_.limit_) : g_.count_ == 0;
      if (ready && may_consume()) {
        if (room_) ++g_.count_;
        return false;
      }
      if (!arm_current(waiter_, h)) {
        waiter_.claim_cancel();
        return false;
      }
      (room_ ? g_.room_waiters_ : g_.zero_waiters_).push_back(&waiter_);
      return true;
    }
    void await_resume() {
      disarm(waiter_);
      current_task()->waiting_on = nullptr;
      if (waiter_.state() == Waiter::kCancelled) {
        unlink();
        throw Cancelled();
      }
    }

   private:
    void unlink() noexcept {
      std::lock_guard<SpinLock> lock(g_.mu_);
      (room_ ? g_.room_waiters_ : g_.zero_waiters_).remove(&waiter_);
    }
    WaitGroup& g_;
    bool room_;
    Waiter waiter_;
  };
  [[nodiscard]] Awaiter wait_zero() noexcept { return Awaiter(*this, false); }
  [[nodiscard]] Awaiter wait_room() noexcept { return Awaiter(*this, true); }

 private:
  mutable SpinLock mu_;
  const std::size_t limit_;
  std::size_t count_ = 0;
  WaitList zero_waiters_;
  WaitList room_waiters_;
};

}  // namespace tether::detail

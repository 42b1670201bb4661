// Internal; not part of the public API.
//
// OneShotEvent: set once by anyone, awaited by one task. The word holds null (not set, nobody
// waits), a waiter (one task waits), or kSet.
//  1. wait: CAS null -> &waiter publishes the waiter; finding kSet completes at once.
//  2. set: exchange(kBusy); a waiter found there is claimed; then store kSet; then wake the waiter
//     if the claim won. kBusy counts as set for everyone else.
//  3. A cancelled wait takes its waiter back by CAS &waiter -> null. If that fails, set() has it and
//     may still be claiming it (a canceller claimed first, so the task already runs): the awaiter
//     waits while the word is kBusy before it may be destroyed. Without that, set() would claim a
//     waiter whose frame was already freed.
#pragma once

#include <coroutine>
#include <thread>

#include "tether/core/detail/task_header.hpp"
#include "tether/core/error.hpp"

namespace tether::detail {

class OneShotEvent {
 public:
  void set() noexcept {
    // acq_rel: release publishes what the setter wrote before; acquire sees the waiter's fields.
    Waiter* w = word_.exchange(busy_marker(), std::memory_order_acq_rel);
    if (w == busy_marker()) return;  // a concurrent set() finishes the job (set is meant to happen once)
    bool won = w && w != set_marker() && w->claim_notify();
    // release: the claim is done; a waiter that lost it may be destroyed from here on (rule 3).
    word_.store(set_marker(), std::memory_order_release);
    if (won) w->wake();  // a claimed waiter stays alive until it is woken
  }
  bool is_set() const noexcept {
    Waiter* w = word_.load(std::memory_order_acquire);
    return w == set_marker() || w == busy_marker();
  }

  class Awaiter {
   public:
    explicit Awaiter(OneShotEvent& e) noexcept : e_(e) {}
    Awaiter(const Awaiter&) = delete;
    Awaiter& operator=(const Awaiter&) = delete;
    ~Awaiter() {
      take_back();
      disarm(waiter_);
    }
    bool await_ready() const noexcept { return e_.is_set(); }
    bool await_suspend(std::coroutine_handle<> h) {
      if (!arm_current(waiter_, h)) return false;
      Waiter* expected = nullptr;
      if (e_.word_.compare_exchange_strong(expected, &waiter_, std::memory_order_acq_rel)) {
        published_ = true;
        return true;
      }
      // Set meanwhile (rule 1): complete now unless a canceller claimed the waiter first.
      return !waiter_.claim_notify();
    }
    void await_resume() {
      disarm(waiter_);
      take_back();
      if (waiter_.state() == Waiter::kCancelled) throw Cancelled();
    }

   private:
    void take_back() noexcept {
      if (!published_) return;
      published_ = false;
      Waiter* expected = &waiter_;
      if (e_.word_.compare_exchange_strong(expected, nullptr, std::memory_order_acq_rel)) return;  // rule 3
      // set() took the waiter; wait until it is done claiming (a few instructions).
      while (e_.word_.load(std::memory_order_acquire) == busy_marker()) std::this_thread::yield();
    }
    OneShotEvent& e_;
    Waiter waiter_;
    bool published_ = false;
  };
  [[nodiscard]] Awaiter wait() noexcept { return Awaiter(*this); }

 private:
  static Waiter* set_marker() noexcept { return reinterpret_cast<Waiter*>(alignof(Waiter)); }
  static Waiter* busy_marker() noexcept { return reinterpret_cast<Waiter*>(2 * alignof(Waiter)); }
  Atomic<Waiter*> word_{nullptr};
};

}  // namespace tether::detail

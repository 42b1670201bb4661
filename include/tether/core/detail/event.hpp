// Internal; not part of the public API.
//
// OneShotEvent: set once by anyone, awaited by one task. The word holds null (not set, nobody
// waits), a waiter (one task waits), or kSet.
//  1. wait: CAS null -> &waiter publishes the waiter; finding kSet completes at once.
//  2. set: exchange(kSet); a waiter found there is claimed and woken.
//  3. A cancelled wait takes its waiter back by CAS &waiter -> null; if that fails, set() has it.
#pragma once

#include <coroutine>

#include "tether/core/detail/task_header.hpp"
#include "tether/core/error.hpp"

namespace tether::detail {

class OneShotEvent {
 public:
  void set() noexcept {
    // acq_rel: release publishes what the setter wrote before; acquire sees the waiter's fields.
    Waiter* w = word_.exchange(set_marker(), std::memory_order_acq_rel);
    if (w && w != set_marker() && w->claim_notify()) w->wake();
  }
  bool is_set() const noexcept { return word_.load(std::memory_order_acquire) == set_marker(); }

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
      e_.word_.compare_exchange_strong(expected, nullptr, std::memory_order_acq_rel);  // rule 3
    }
    OneShotEvent& e_;
    Waiter waiter_;
    bool published_ = false;
  };
  [[nodiscard]] Awaiter wait() noexcept { return Awaiter(*this); }

 private:
  static Waiter* set_marker() noexcept { return reinterpret_cast<Waiter*>(alignof(Waiter)); }
  Atomic<Waiter*> word_{nullptr};
};

}  // namespace tether::detail

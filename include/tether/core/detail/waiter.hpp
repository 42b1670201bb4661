// Internal; not part of the public API.
//
// Waiter: one suspended task's place in some wait queue (a channel's receivers, a mutex's queue, a
// timer slot, a join). It lives inside the awaiter, so waiting never allocates.
//
// Protocol:
//  1. A waiter starts kWaiting. Exactly one party moves it on: a notifier (kNotified) or the
//     canceller (kCancelled), by compare-and-swap; only the winner wakes the task. So each suspension
//     is resumed exactly once, and a primitive knows whether its hand-off (a value, a permit) was
//     accepted: if claim_notify() fails, the waiter was cancelled and the primitive keeps the value.
//  2. The task's await_resume() disarms cancellation first (under the scope's lock), then, if it was
//     cancelled, unlinks itself from the primitive's queue under the primitive's lock. The notifier
//     unlinks the waiters it pops. `linked` is guarded by the primitive's lock.
//  3. A waiter that is still linked when its awaiter is destroyed (the task's frame destroyed while
//     suspended, at runtime teardown) must be unlinked by the awaiter's destructor.
//  4. select(): a branch that is a single awaitable runs as a task in a SelectGroup, and its first
//     claim wins the group for it: claim_notify() first claims the group, and a branch that loses
//     refuses the notification (the primitive keeps its value) and wakes as cancelled. A primitive
//     that would complete *without* a waiter (the value is already there) must ask may_consume()
//     first, and if it says no, wait like any other waiter; so a select never consumes a value in
//     two branches.
#pragma once

#include <cstdint>

#include "tether/core/detail/sync_shim.hpp"

namespace tether::detail {

class TaskHeader;
class CancelState;

// The shared claim of a select(): the first branch to claim it wins, every other branch loses.
struct SelectGroup {
  static constexpr int kNone = -1;
  // Returns true if `branch` holds the win (now or already).
  bool try_win(int branch) noexcept {
    int expected = kNone;
    // acq_rel: the winner's writes before its claim are visible to whoever reads winner().
    if (winner_.compare_exchange_strong(expected, branch, std::memory_order_acq_rel)) return true;
    return expected == branch;
  }
  int winner() const noexcept { return winner_.load(std::memory_order_acquire); }

 private:
  Atomic<int> winner_{kNone};
};

class Waiter {
 public:
  enum State : std::uint8_t { kWaiting, kNotified, kCancelled };

  Waiter() = default;
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  // acq_rel: acquire so the winner sees the waiter's fields; release so the woken task, which
  // reads the state with acquire, sees what the winner wrote before (e.g. a handed-off value).
  // Defined in task_header.hpp (rule 4 needs the task).
  bool claim_notify() noexcept;
  bool claim_cancel() noexcept {
    std::uint8_t expected = kWaiting;
    return state_.compare_exchange_strong(expected, kCancelled, std::memory_order_acq_rel);
  }
  // acquire: pairs with the claim above.
  State state() const noexcept { return static_cast<State>(state_.load(std::memory_order_acquire)); }
  bool notified() const noexcept { return state() == kNotified; }
  // Only when no other thread can reach this waiter (before linking it again).
  void reset() noexcept { state_.store(kWaiting, std::memory_order_relaxed); }

  // Schedules the waiting task; defined in task_header.hpp.
  void wake() noexcept;

  TaskHeader* task = nullptr;          // the task to resume; set before the waiter is published
  CancelState* armed_scope = nullptr;  // the scope this waiter is armed on, if any

  // Intrusive links for the primitive's wait queue. Access: only under the primitive's lock.
  Waiter* next = nullptr;
  Waiter* prev = nullptr;
  bool linked = false;

 private:
  Atomic<std::uint8_t> state_{kWaiting};
};

// FIFO of waiters; the owner's lock guards every call.
class WaitList {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  Waiter* front() const noexcept { return head_; }
  std::size_t size() const noexcept { return size_; }

  void push_back(Waiter* w) noexcept {
    w->next = nullptr;
    w->prev = tail_;
    if (tail_) {
      tail_->next = w;
    } else {
      head_ = w;
    }
    tail_ = w;
    w->linked = true;
    ++size_;
  }
  Waiter* pop_front() noexcept {
    Waiter* w = head_;
    if (w) remove(w);
    return w;
  }
  void remove(Waiter* w) noexcept {
    if (!w->linked) return;
    if (w->prev) {
      w->prev->next = w->next;
    } else {
      head_ = w->next;
    }
    if (w->next) {
      w->next->prev = w->prev;
    } else {
      tail_ = w->prev;
    }
    w->next = w->prev = nullptr;
    w->linked = false;
    --size_;
  }

  // Pops waiters until one accepts the notification (protocol rule 1). Returns it, or null when
  // every waiter had been cancelled. The caller wakes it after releasing its lock.
  Waiter* pop_notify() noexcept {
    while (Waiter* w = pop_front()) {
      if (w->claim_notify()) return w;
    }
    return nullptr;
  }

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace tether::detail

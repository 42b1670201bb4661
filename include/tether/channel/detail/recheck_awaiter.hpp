// Internal; not part of the public API.
//
// RecheckAwaiter<Source>: the awaiter of oneshot, broadcast and watch receivers. Unlike mpsc, their
// notifiers hand nothing over: a notification only says "look again", and the woken task takes its
// outcome from the shared state under the state's lock. So a cancelled waiter never owns anything
// and nothing can be lost to cancellation (waiter.hpp rule 1 holds trivially).
//
// Protocol (`Source` supplies the state and the lock):
//  1. await_suspend, under the lock: if the outcome is ready, ask may_consume() (waiter.hpp rule 4)
//     and take it; else arm, publish the waiter, suspend.
//  2. A notifier, under the lock, unpublishes the waiter and claims it; only a state change that
//     makes the outcome ready notifies (a value was sent, the sender went away), so a notified
//     waiter always finds its outcome ready in await_resume.
//  3. A cancelled waiter unpublishes itself under the lock in await_resume (or its destructor).
//
// Source requirements:
//   using Result;  static constexpr const char* kWhat;  SpinLock& mu();
//   bool ready_locked();  Result take_locked();   // take REQUIRES ready
//   void publish_locked(Waiter*);  void unpublish_locked(Waiter*);
#pragma once

#include <coroutine>
#include <mutex>
#include <optional>
#include <utility>

#include "tether/channel/detail/bounded_channel.hpp"
#include "tether/core/detail/task_header.hpp"
#include "tether/core/error.hpp"

namespace tether::detail {

template <class Source>
class [[nodiscard]] RecheckAwaiter {
 public:
  using Result = typename Source::Result;

  explicit RecheckAwaiter(Source src) noexcept : src_(src) {}
  // Only before the awaiter is awaited (select() moves its arguments into branch tasks).
  RecheckAwaiter(RecheckAwaiter&& o) noexcept : src_(o.src_) {}
  RecheckAwaiter& operator=(RecheckAwaiter&&) = delete;
  ~RecheckAwaiter() {
    if (published_) {  // waiter.hpp rule 3
      std::lock_guard<SpinLock> g(src_.mu());
      src_.unpublish_locked(&node_);
    }
    disarm(node_);
  }

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    TaskHeader* self = current_task();
    if (!self) throw Error("a channel receive was awaited outside a tether task");
    std::unique_lock<SpinLock> g(src_.mu());
    bool ready = src_.ready_locked();
    if (ready && may_consume()) {  // rule 1
      result_.emplace(src_.take_locked());
      g.unlock();
      return yield_if_budget_spent(self, h);
    }
    self->waiting_on = Source::kWhat;
    if (!arm_current(node_, h)) {
      cancelled_ = true;
      return false;
    }
    if (!ready) {  // else: a select branch that lost; wait unqueued for its cancellation
      src_.publish_locked(&node_);
      published_ = true;
    }
    return true;
  }
  Result await_resume() {
    if (result_) return std::move(*result_);
    if (cancelled_) throw Cancelled();
    disarm(node_);
    current_task()->waiting_on = nullptr;
    std::unique_lock<SpinLock> g(src_.mu());
    if (node_.state() != Waiter::kNotified) {  // rule 3
      if (published_) src_.unpublish_locked(&node_);
      published_ = false;
      g.unlock();
      throw Cancelled();
    }
    published_ = false;  // the notifier unpublished it (rule 2)
    return src_.take_locked();
  }

 private:
  Source src_;
  Waiter node_;
  std::optional<Result> result_;
  bool cancelled_ = false;
  bool published_ = false;
};

// Wakes every waiter of `list` (under the owner's lock) through `wakes` (after it).
inline void notify_all_locked(WaitList& list, WakeChain& wakes) noexcept {
  while (Waiter* w = list.pop_notify()) wakes.add(w);
}

}  // namespace tether::detail

// Internal; not part of the public API.
//
// WaitQueueAwaiter: the awaiter shape shared by Notify, Latch, Barrier and OnceCell. The owner
// keeps a SpinLock and a WaitList; the awaiter asks the owner (under its lock) whether it can
// complete now (`ready`), and otherwise queues and arms a waiter. The owner wakes waiters with
// WaitList::pop_notify() under its lock and calls wake() after releasing it. A cancelled waiter
// unlinks itself in await_resume (waiter.hpp rule 2), calling the owner's `on_cancel` under the
// lock so it can withdraw what the waiter contributed (a barrier arrival).
#pragma once

#include <coroutine>
#include <mutex>

#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/detail/task_header.hpp"
#include "tether/core/detail/waiter.hpp"
#include "tether/core/error.hpp"

namespace tether::detail {

// Owner requirements (all called under the owner's lock): SpinLock& lock(); WaitList& waiters();
// bool ready(Awaiter&) (may consume, e.g. a Notify permit); bool ready_fast(Awaiter&) (the same
// question from await_ready, which is followed by a separate critical section; an owner whose
// answer has side effects that must happen together with queueing returns false);
// void on_cancel(Awaiter&).
template <class Owner>
class WaitQueueAwaiter {
 public:
  WaitQueueAwaiter(Owner& o, const char* what) noexcept : o_(o), what_(what) {}
  WaitQueueAwaiter(WaitQueueAwaiter&& x) noexcept : o_(x.o_), what_(x.what_), cookie(x.cookie) {}
  WaitQueueAwaiter(const WaitQueueAwaiter&) = delete;
  WaitQueueAwaiter& operator=(const WaitQueueAwaiter&) = delete;
  ~WaitQueueAwaiter() {
    if (waiter_.linked) {
      std::lock_guard<SpinLock> g(o_.lock());
      o_.waiters().remove(&waiter_);
    }
    disarm(waiter_);
  }

  bool await_ready() {
    if (cancelled()) return false;  // the slow path throws Cancelled
    std::lock_guard<SpinLock> g(o_.lock());
    if (!may_consume()) return false;
    return done_now_ = o_.ready_fast(*this);
  }
  bool await_suspend(std::coroutine_handle<> h) {
    TaskHeader* self = current_task();
    if (!self) throw Error(std::string(what_) + " had to wait outside a tether task");
    if (cancelled()) {
      waiter_.claim_cancel();  // not published anywhere: await_resume throws Cancelled
      return false;
    }
    if (!may_consume()) {
      // A select branch that lost: wait for the cancellation on its way (waiter.hpp rule 4).
      if (!arm_current(waiter_, h)) waiter_.claim_cancel();
      return waiter_.state() != Waiter::kCancelled;
    }
    std::lock_guard<SpinLock> g(o_.lock());
    if (o_.ready(*this)) {
      done_now_ = true;
      return false;
    }
    self->waiting_on = what_;
    o_.waiters().push_back(&waiter_);
    if (arm_current(waiter_, h)) return true;
    o_.waiters().remove(&waiter_);
    waiter_.claim_cancel();
    o_.on_cancel(*this);
    self->waiting_on = nullptr;
    return false;
  }
  // Returns normally if it completed or was notified; throws Cancelled otherwise.
  void await_resume() {
    if (done_now_) return;
    disarm(waiter_);
    if (TaskHeader* self = current_task()) self->waiting_on = nullptr;
    if (waiter_.state() == Waiter::kNotified) return;
    {
      std::lock_guard<SpinLock> g(o_.lock());
      if (waiter_.linked) {
        o_.waiters().remove(&waiter_);
        o_.on_cancel(*this);
      }
    }
    throw Cancelled();
  }

  Waiter& waiter() noexcept { return waiter_; }

 private:
  static bool cancelled() noexcept {
    TaskHeader* t = current_task();
    return t && t->scope->is_cancelled();
  }

  Owner& o_;
  const char* what_;
  Waiter waiter_;
  bool done_now_ = false;

 public:
  // For the owner: a generation or flag captured at creation / set before the wake.
  std::uint64_t cookie = 0;
  bool flag = false;
};

}  // namespace tether::detail

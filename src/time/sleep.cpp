// Sleeping on the timer wheel.
#include "tether/time/sleep.hpp"

#include "tether/core/error.hpp"

namespace tether {

Clock::time_point Clock::now() noexcept {
  if (detail::RuntimeCore* core = detail::RuntimeCore::current()) {
    return time_point(duration(static_cast<rep>(core->now_ms())));
  }
  return time_point(duration(static_cast<rep>(detail::RuntimeCore::process_now_ms())));
}

Clock::time_point Clock::now_rounded_up() noexcept {
  // Virtual time is whole milliseconds already; every real-time runtime reads the process clock.
  detail::RuntimeCore* core = detail::RuntimeCore::current();
  if (core && core->is_virtual_time()) return now();
  return time_point(duration(static_cast<rep>(detail::RuntimeCore::process_now_ms_rounded_up())));
}

SleepAwaiter::~SleepAwaiter() {
  if (timer_armed_) core_->remove_timer(&entry_);
  detail::disarm(waiter_);
}

bool SleepAwaiter::await_ready() const noexcept {
  // Already due: complete at once, unless the cooperative budget is spent (then await_suspend
  // yields) or a select rival won (then await_suspend waits for the cancellation).
  return Clock::now() >= deadline_ && detail::may_consume() && detail::consume_budget();
}

bool SleepAwaiter::fire(detail::TimerEntry* e, detail::FiredBatch& batch) noexcept {
  SleepAwaiter* self = static_cast<Entry*>(e)->owner;
  // Under the wheel's lock: the awaiter is alive (its destructor removes the entry under the same
  // lock), and the wake happens after the lock is released.
  if (self->waiter_.claim_notify()) batch.wake[batch.n_wake++] = &self->waiter_;
  return false;
}

bool SleepAwaiter::await_suspend(std::coroutine_handle<> h) {
  detail::TaskHeader* self = detail::current_task();
  if (!self) throw Error("sleep() awaited outside a tether task");
  core_ = self->core();
  if (Clock::now() >= deadline_ && detail::may_consume()) {
    // Due, but the budget is spent: give the worker to others first.
    yielded_ = true;
    self->resume_point = h;
    self->wake(detail::ScheduleHint::kYield);
    return true;
  }
  self->waiting_on = "sleep";
  if (!detail::arm_current(waiter_, h)) return false;  // cancelled: await_resume throws
  entry_.owner = this;
  entry_.deadline_ms = detail::to_ms(deadline_);
  entry_.fire = &SleepAwaiter::fire;
  if (core_->add_timer(&entry_)) {
    timer_armed_ = true;
    return true;
  }
  // Due meanwhile. Complete now unless a canceller (or a select rival) claimed the waiter first;
  // then its wake is on the way and we must suspend to receive it.
  return !waiter_.claim_notify();
}

void SleepAwaiter::await_resume() {
  if (!core_) return;  // completed in await_ready
  detail::current_task()->waiting_on = nullptr;
  if (yielded_) {
    detail::throw_if_cancelled();
    return;
  }
  detail::disarm(waiter_);
  if (timer_armed_) {
    core_->remove_timer(&entry_);
    timer_armed_ = false;
  }
  if (waiter_.state() != detail::Waiter::kNotified) throw Cancelled();
}

}  // namespace tether

// tether/time/sleep.hpp
//
// sleep(d) and sleep_until(t): suspend the calling task on the runtime's timer wheel (O(1) insert
// and cancel). No thread sleeps; a million sleeping tasks cost a million small awaiters.
//
// When to use something else: periodic work, Interval (interval.hpp); bounding another operation,
// timeout() (timeout.hpp). Never call std::this_thread::sleep_for on a worker: it blocks every task
// queued behind it (the watchdog reports it).
//
// Thread safety: n/a (acts on the calling task).
// Cancellation: Cancel-safe: nothing was consumed; the timer is removed.
// Allocation: never allocates.
// Example: examples/time/timeouts.cpp
#pragma once

#include <chrono>
#include <coroutine>

#include "tether/core/detail/runtime_core.hpp"
#include "tether/core/detail/task_header.hpp"
#include "tether/time/clock.hpp"

namespace tether {

class SleepAwaiter {
 public:
  explicit SleepAwaiter(Instant deadline) noexcept : deadline_(deadline) {}
  SleepAwaiter(const SleepAwaiter&) = delete;
  SleepAwaiter& operator=(const SleepAwaiter&) = delete;
  SleepAwaiter(SleepAwaiter&& o) noexcept : deadline_(o.deadline_) {}
  ~SleepAwaiter();

  bool await_ready() const noexcept;
  bool await_suspend(std::coroutine_handle<> h);
  void await_resume();

 private:
  static bool fire(detail::TimerEntry* e, detail::FiredBatch& batch) noexcept;

  struct Entry : detail::TimerEntry {
    SleepAwaiter* owner = nullptr;
  };
  Instant deadline_;
  Entry entry_;
  detail::Waiter waiter_;
  detail::RuntimeCore* core_ = nullptr;
  bool timer_armed_ = false;
  bool yielded_ = false;
};

// sleep_until()
//
// Waits until the runtime's clock reaches `t` (at once if it has). Throws: Cancelled.
// Cancellation: Cancel-safe: nothing was consumed.
[[nodiscard]] inline SleepAwaiter sleep_until(Instant t) noexcept { return SleepAwaiter(t); }

// sleep()
//
// Waits at least `d` on the runtime's clock (rounded up to the millisecond). Throws: Cancelled.
// Cancellation: Cancel-safe: nothing was consumed.
template <class Rep, class Period>
[[nodiscard]] SleepAwaiter sleep(std::chrono::duration<Rep, Period> d) noexcept {
  return SleepAwaiter(Clock::now_rounded_up() + std::chrono::ceil<Clock::duration>(d));
}

}  // namespace tether

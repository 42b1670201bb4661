// tether/time/interval.hpp
//
// Interval: ticks every `period` on the runtime's clock, for periodic work (heartbeats, expiry
// sweeps, metrics flushes). The first tick completes at once. When the task falls behind (a tick
// handler took longer than the period), MissedTick says what happens:
//   kBurst  fire the missed ticks back to back until caught up (keeps the average rate)
//   kDelay  the next tick is one period after the late one (keeps the spacing)
//   kSkip   drop the missed ticks; the next tick is the next multiple of the period
//
// When to use something else: a one-off wait is sleep(); a deadline for an operation is timeout().
//
// Thread safety: confined to its owning task.
// Cancellation: tick() is Cancel-safe: nothing was consumed (the tick is still due).
// Example: examples/time/timeouts.cpp
#pragma once

#include <chrono>

#include "tether/core/task.hpp"
#include "tether/time/clock.hpp"
#include "tether/time/sleep.hpp"

namespace tether {

enum class MissedTick { kBurst, kDelay, kSkip };

class Interval {
 public:
  template <class Rep, class Period>
  explicit Interval(std::chrono::duration<Rep, Period> period, MissedTick missed = MissedTick::kBurst)
      : period_(std::chrono::ceil<Clock::duration>(period)), missed_(missed), next_(Clock::now()) {
    if (period_ <= Clock::duration::zero()) period_ = Clock::duration(1);
  }

  // Waits for the next tick and returns the instant it was scheduled for.
  // Throws: Cancelled.
  [[nodiscard]] Task<Instant> tick() {
    co_await sleep_until(next_);
    Instant scheduled = next_;
    Instant now = Clock::now();
    switch (missed_) {
      case MissedTick::kBurst:
        next_ = scheduled + period_;
        break;
      case MissedTick::kDelay:
        next_ = (now > scheduled ? now : scheduled) + period_;
        break;
      case MissedTick::kSkip: {
        next_ = scheduled + period_;
        if (next_ <= now) next_ += period_ * ((now - next_) / period_ + 1);
        break;
      }
    }
    co_return scheduled;
  }

  // The next tick is one period from now.
  void reset() { next_ = Clock::now() + period_; }
  Clock::duration period() const noexcept { return period_; }
  Instant next_tick() const noexcept { return next_; }

 private:
  Clock::duration period_;
  MissedTick missed_;
  Instant next_;
};

}  // namespace tether

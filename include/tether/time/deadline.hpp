// tether/time/deadline.hpp
//
// Deadline: a point on the runtime's clock by which an operation must finish. Every external call
// in tether takes one (or a timeout that becomes one); waiting without end must be spelled out as
// Deadline::never(), so it is easy to find in a code review (grep "Deadline::never").
//
//   Deadline   after(d), at(t), never(); remaining(), expired()
//
// When to use something else: to bound one await, timeout(d, op) (timeout.hpp); to stop work on
// request rather than by time, a CancellationToken.
//
// Thread safety: a plain value.
#pragma once

#include <chrono>

#include "tether/time/clock.hpp"

namespace tether {

class Deadline {
 public:
  // The deadline `d` from now on the runtime's clock.
  template <class Rep, class Period>
  static Deadline after(std::chrono::duration<Rep, Period> d) noexcept {
    return Deadline(Clock::now_rounded_up() + std::chrono::ceil<Clock::duration>(d));
  }
  static Deadline at(Instant t) noexcept { return Deadline(t); }
  // No deadline at all. Only for operations that genuinely may wait forever.
  static Deadline never() noexcept { return Deadline(Instant::max()); }

  Instant instant() const noexcept { return at_; }
  bool is_never() const noexcept { return at_ == Instant::max(); }
  bool expired() const noexcept { return !is_never() && Clock::now() >= at_; }
  Clock::duration remaining() const noexcept {
    if (is_never()) return Clock::duration::max();
    auto left = at_ - Clock::now();
    return left < Clock::duration::zero() ? Clock::duration::zero() : left;
  }
  // The earlier of two deadlines.
  Deadline min(Deadline other) const noexcept { return other.at_ < at_ ? other : *this; }

  friend bool operator==(const Deadline&, const Deadline&) = default;

 private:
  explicit Deadline(Instant t) noexcept : at_(t) {}
  Instant at_;
};

}  // namespace tether

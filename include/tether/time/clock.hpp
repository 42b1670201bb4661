// tether/time/clock.hpp
//
// The runtime's clock. Inside a runtime, Clock::now() reads that runtime's clock: real monotonic
// time, or the paused virtual clock of tether::testing::VirtualRuntime, so that code written against
// Clock is testable in virtual time. Outside any runtime it reads the process's monotonic clock.
// Resolution is one millisecond (the timer wheel's).
//
//   Clock     a std::chrono clock (steady)
//   Instant   Clock::time_point
//
// Thread safety: thread-safe.
#pragma once

#include <chrono>
#include <cstdint>

namespace tether {

struct Clock {
  using duration = std::chrono::milliseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<Clock, duration>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept;
  // now() rounded up to the next millisecond on the real clock (exact on virtual time): the base of
  // relative deadlines. Timers fire once now() reaches their deadline, and now() is truncated, so a
  // deadline counted from the truncated value could end a wait of d up to a millisecond early.
  static time_point now_rounded_up() noexcept;
};

using Instant = Clock::time_point;

namespace detail {
// Milliseconds since the clock's epoch, for the timer wheel.
inline std::uint64_t to_ms(Instant t) noexcept {
  auto c = t.time_since_epoch().count();
  return c < 0 ? 0 : static_cast<std::uint64_t>(c);
}
}  // namespace detail

}  // namespace tether

// RateLimiter: GCRA over the runtime's clock (see include/tether/patterns/rate_limiter.hpp).
//
// With T the interval per token and τ = burst × T: the bucket is described by TAT, the time at
// which it would be full again. Taking n tokens at time `now` moves TAT to max(TAT, now) + n·T,
// and is allowed while that stays within τ of now; otherwise the request is due at new TAT - τ.
#include "tether/patterns/rate_limiter.hpp"

#include <algorithm>

#include "tether/core/error.hpp"
#include "tether/time/sleep.hpp"

namespace tether {

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

const RateLimiterOptions& validated(const RateLimiterOptions& o) {
  if (o.rate == 0) throw Error("RateLimiter: rate must be at least 1");
  if (o.burst == 0) throw Error("RateLimiter: burst must be at least 1");
  if (o.per.count() <= 0) throw Error("RateLimiter: per must be positive");
  return o;
}

}  // namespace

RateLimiter::RateLimiter(RateLimiterOptions options)
    : options_(validated(options)),
      interval_ns_(
          std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::nanoseconds>(options_.per).count() /
                                        static_cast<std::int64_t>(options_.rate))),
      tolerance_ns_(interval_ns_ * static_cast<std::int64_t>(options_.burst)) {}

std::int64_t RateLimiter::wait_locked(std::size_t n, std::int64_t now) const {
  std::int64_t new_tat = std::max(tat_ns_, now) + static_cast<std::int64_t>(n) * interval_ns_;
  std::int64_t due = new_tat - tolerance_ns_;
  return due > now ? due - now : 0;
}

std::int64_t RateLimiter::take_or_wait(std::size_t n, bool count_refusal) {
  std::lock_guard<std::mutex> g(mu_);
  std::int64_t now = now_ns();
  std::int64_t wait = wait_locked(n, now);
  if (wait == 0) {
    tat_ns_ = std::max(tat_ns_, now) + static_cast<std::int64_t>(n) * interval_ns_;
    metrics_.granted += n;
  } else if (count_refusal) {
    ++metrics_.refused;
  }
  return wait;
}

bool RateLimiter::try_acquire(std::size_t n) {
  if (n > options_.burst) {
    std::lock_guard<std::mutex> g(mu_);
    ++metrics_.refused;
    return false;
  }
  return take_or_wait(n, true) == 0;
}

Task<void> RateLimiter::acquire(std::size_t n) {
  if (n > options_.burst) throw Error("RateLimiter '" + options_.name + "': acquire(n) with n above burst");
  bool waited = false;
  for (;;) {
    std::int64_t wait = take_or_wait(n, false);
    if (wait == 0) break;
    if (!waited) {
      waited = true;
      std::lock_guard<std::mutex> g(mu_);
      ++metrics_.waits;
    }
    // Rounded up to the clock's millisecond, so the retry never comes early.
    co_await sleep(std::chrono::ceil<Clock::duration>(std::chrono::nanoseconds(wait)));
  }
}

Clock::duration RateLimiter::time_until_available(std::size_t n) const {
  std::lock_guard<std::mutex> g(mu_);
  return std::chrono::ceil<Clock::duration>(std::chrono::nanoseconds(wait_locked(n, now_ns())));
}

RateLimiterMetrics RateLimiter::metrics() const {
  std::lock_guard<std::mutex> g(mu_);
  return metrics_;
}

}  // namespace tether

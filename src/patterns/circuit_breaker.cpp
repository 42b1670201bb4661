// CircuitBreaker: the state machine. The transitions T1-T3 are described in
// include/tether/patterns/circuit_breaker.hpp. Everything under mu_ is short and never awaits;
// logging and the on_state_change callback run after mu_ is released (announce()).
#include "tether/patterns/circuit_breaker.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "tether/core/detail/runtime_core.hpp"

namespace tether {

std::string_view to_string(CircuitState s) noexcept {
  switch (s) {
    case CircuitState::kClosed:
      return "closed";
    case CircuitState::kOpen:
      return "open";
    case CircuitState::kHalfOpen:
      return "half-open";
  }
  return "?";
}

CircuitOpen::CircuitOpen(std::string breaker, Clock::duration retry_after)
    : Error("circuit '" + breaker + "' is open"), breaker_(std::move(breaker)), retry_after_(retry_after) {}

// The sliding window of a closed breaker: per call, whether it failed and whether it was slow.
struct CircuitBreaker::Window {
  static constexpr std::size_t kBuckets = 10;
  struct Bucket {
    std::int64_t slot = -1;  // kTime: which time slot (time / width) the counts belong to
    std::size_t calls = 0, failures = 0, slow = 0;
  };

  WindowKind kind;
  // kCount: a ring of the last `size` outcomes (bit 0 failed, bit 1 slow) and running sums.
  std::vector<std::uint8_t> ring;
  std::size_t head = 0, filled = 0, failures = 0, slow = 0;
  // kTime: kBuckets time slots of `width` ms each.
  std::int64_t width = 1;
  Bucket buckets[kBuckets];

  explicit Window(const CircuitBreakerOptions& o) : kind(o.window) {
    if (kind == WindowKind::kCount) {
      ring.assign(std::max<std::size_t>(o.window_size, 1), 0);
    } else {
      width = std::max<std::int64_t>(1, (o.window_duration.count() + kBuckets - 1) / kBuckets);
    }
  }

  void clear() {
    std::fill(ring.begin(), ring.end(), 0);
    head = filled = failures = slow = 0;
    for (auto& b : buckets) b = Bucket{};
  }

  void add(bool failed, bool was_slow, Instant now) {
    if (kind == WindowKind::kCount) {
      if (filled == ring.size()) {  // evict the oldest
        failures -= ring[head] & 1;
        slow -= (ring[head] >> 1) & 1;
      } else {
        ++filled;
      }
      ring[head] = static_cast<std::uint8_t>((failed ? 1 : 0) | (was_slow ? 2 : 0));
      failures += failed;
      slow += was_slow;
      head = (head + 1) % ring.size();
      return;
    }
    std::int64_t slot = now.time_since_epoch().count() / width;
    Bucket& b = buckets[static_cast<std::size_t>(slot) % kBuckets];
    if (b.slot != slot) b = Bucket{slot, 0, 0, 0};
    ++b.calls;
    b.failures += failed;
    b.slow += was_slow;
  }

  struct Sums {
    std::size_t calls = 0, failures = 0, slow = 0;
  };
  Sums sums(Instant now) const {
    if (kind == WindowKind::kCount) return {filled, failures, slow};
    Sums s;
    std::int64_t current = now.time_since_epoch().count() / width;
    for (const auto& b : buckets) {
      if (b.slot >= 0 && b.slot > current - static_cast<std::int64_t>(kBuckets) && b.slot <= current) {
        s.calls += b.calls;
        s.failures += b.failures;
        s.slow += b.slow;
      }
    }
    return s;
  }
};

namespace {

double rate(std::size_t part, std::size_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

CircuitBreakerOptions validated(CircuitBreakerOptions o) {
  if (o.half_open_calls == 0) throw Error("CircuitBreaker: half_open_calls must be at least 1");
  if (!(o.failure_rate_threshold > 0.0 && o.failure_rate_threshold <= 1.0)) {
    throw Error("CircuitBreaker: failure_rate_threshold must be in (0, 1]");
  }
  if (!(o.slow_call_rate_threshold > 0.0)) throw Error("CircuitBreaker: slow_call_rate_threshold must be > 0");
  if (o.window == WindowKind::kCount && o.window_size == 0) throw Error("CircuitBreaker: window_size must be >= 1");
  if (o.window == WindowKind::kTime && o.window_duration.count() <= 0) {
    throw Error("CircuitBreaker: window_duration must be positive");
  }
  if (o.minimum_calls == 0) o.minimum_calls = 1;
  if (o.window == WindowKind::kCount) o.minimum_calls = std::min(o.minimum_calls, o.window_size);
  return o;
}

}  // namespace

CircuitBreaker::CircuitBreaker(CircuitBreakerOptions options)
    : options_(validated(std::move(options))), window_(std::make_unique<Window>(options_)) {}

CircuitBreaker::~CircuitBreaker() = default;

CircuitBreaker::Kind CircuitBreaker::classify(const std::exception_ptr& e) const noexcept {
  if (!options_.is_failure) return Kind::kFailure;
  try {
    return options_.is_failure(e) ? Kind::kFailure : Kind::kSuccess;
  } catch (...) {
    return Kind::kFailure;  // a predicate that throws cannot vouch for the call
  }
}

void CircuitBreaker::transition_locked(CircuitState to, Instant now, std::string why, std::vector<Transition>& out) {
  CircuitState from = state_;
  state_ = to;
  ++epoch_;  // calls admitted before this point no longer count towards the new state
  trials_started_ = trials_done_ = trial_failures_ = trial_slow_ = 0;
  switch (to) {
    case CircuitState::kOpen:
      open_until_ = now + options_.open_duration;
      ++totals_.opened;
      break;
    case CircuitState::kHalfOpen:
      ++totals_.half_opened;
      break;
    case CircuitState::kClosed:
      window_->clear();
      ++totals_.closed;
      break;
  }
  out.push_back(Transition{from, to, std::move(why)});
}

void CircuitBreaker::maybe_half_open_locked(Instant now, std::vector<Transition>& out) {
  if (state_ == CircuitState::kOpen && now >= open_until_) {  // T2
    transition_locked(CircuitState::kHalfOpen, now, "open duration elapsed", out);
  }
}

CircuitBreaker::Ticket CircuitBreaker::admit() {
  std::vector<Transition> ts;
  std::optional<Clock::duration> reject_after;
  Ticket t;
  {
    std::lock_guard<std::mutex> g(mu_);
    Instant now = Clock::now();
    maybe_half_open_locked(now, ts);
    if (state_ == CircuitState::kOpen) {
      reject_after = open_until_ - now;
    } else if (state_ == CircuitState::kHalfOpen && trials_started_ >= options_.half_open_calls) {
      reject_after = Clock::duration::zero();
    } else {
      t.epoch = epoch_;
      t.trial = state_ == CircuitState::kHalfOpen;
      if (t.trial) ++trials_started_;
    }
    if (reject_after) ++totals_.rejected_calls;
  }
  announce(ts);
  if (reject_after) throw CircuitOpen(options_.name, *reject_after);
  return t;
}

void CircuitBreaker::complete(Ticket t, Kind k, Clock::duration elapsed) noexcept {
  std::vector<Transition> ts;
  {
    std::lock_guard<std::mutex> g(mu_);
    bool current = t.epoch == epoch_;
    if (k == Kind::kIgnored) {
      if (current && t.trial && trials_started_ > 0) --trials_started_;  // give the trial slot back
    } else {
      bool failed = k == Kind::kFailure;
      bool slow = elapsed >= options_.slow_call_duration;
      ++(failed ? totals_.failed_calls : totals_.successful_calls);
      totals_.slow_calls += slow;
      Instant now = Clock::now();
      if (current && state_ == CircuitState::kClosed) {
        window_->add(failed, slow, now);
        auto s = window_->sums(now);
        double fr = rate(s.failures, s.calls);
        double sr = rate(s.slow, s.calls);
        if (s.calls >= options_.minimum_calls &&
            (fr >= options_.failure_rate_threshold || sr >= options_.slow_call_rate_threshold)) {  // T1
          transition_locked(
              CircuitState::kOpen, now,
              fmt::format("failure rate {:.1f}%, slow-call rate {:.1f}% over {} calls", fr * 100, sr * 100, s.calls),
              ts);
        }
      } else if (current && state_ == CircuitState::kHalfOpen && t.trial) {
        ++trials_done_;
        trial_failures_ += failed;
        trial_slow_ += slow;
        if (trials_done_ >= options_.half_open_calls) {  // T3
          double fr = rate(trial_failures_, trials_done_);
          double sr = rate(trial_slow_, trials_done_);
          bool reopen = fr >= options_.failure_rate_threshold || sr >= options_.slow_call_rate_threshold;
          transition_locked(reopen ? CircuitState::kOpen : CircuitState::kClosed, now,
                            fmt::format("{} trial calls: failure rate {:.1f}%, slow-call rate {:.1f}%", trials_done_,
                                        fr * 100, sr * 100),
                            ts);
        }
      }
    }
  }
  announce(ts);
}

CircuitState CircuitBreaker::state() {
  std::vector<Transition> ts;
  CircuitState s;
  {
    std::lock_guard<std::mutex> g(mu_);
    maybe_half_open_locked(Clock::now(), ts);
    s = state_;
  }
  announce(ts);
  return s;
}

CircuitBreakerMetrics CircuitBreaker::metrics() {
  std::vector<Transition> ts;
  CircuitBreakerMetrics m;
  {
    std::lock_guard<std::mutex> g(mu_);
    Instant now = Clock::now();
    maybe_half_open_locked(now, ts);
    m = totals_;
    m.state = state_;
    if (state_ == CircuitState::kClosed) {
      auto s = window_->sums(now);
      m.window_calls = s.calls;
      m.failure_rate = rate(s.failures, s.calls);
      m.slow_call_rate = rate(s.slow, s.calls);
    } else if (state_ == CircuitState::kHalfOpen) {
      m.window_calls = trials_done_;
      m.failure_rate = rate(trial_failures_, trials_done_);
      m.slow_call_rate = rate(trial_slow_, trials_done_);
    }
  }
  announce(ts);
  return m;
}

void CircuitBreaker::reset() {
  std::vector<Transition> ts;
  {
    std::lock_guard<std::mutex> g(mu_);
    transition_locked(CircuitState::kClosed, Clock::now(), "reset", ts);
  }
  announce(ts);
}

void CircuitBreaker::announce(std::vector<Transition>& ts) noexcept {
  for (auto& t : ts) {
    try {
      spdlog::logger* log = options_.logger.get();
      if (!log) {
        detail::RuntimeCore* core = detail::RuntimeCore::current();
        log = core ? &core->logger() : spdlog::default_logger_raw();
      }
      auto level = t.to == CircuitState::kOpen ? spdlog::level::warn : spdlog::level::info;
      log->log(level, "circuit breaker '{}': {} -> {} ({})", options_.name, to_string(t.from), to_string(t.to), t.why);
      if (options_.on_state_change) options_.on_state_change(t.from, t.to);
    } catch (...) {
      // A failing log sink or callback must not undo the transition or fail the call.
    }
  }
}

}  // namespace tether

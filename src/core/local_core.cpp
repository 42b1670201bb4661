// Single-threaded flavours (current-thread and virtual time); see detail/local_core.hpp.
#include "tether/core/detail/local_core.hpp"

#include <spdlog/spdlog.h>

#include "tether/core/detail/driver.hpp"
#include "tether/core/detail/join_cell.hpp"
#include "tether/core/error.hpp"

namespace tether::detail {

LocalCore::LocalCore(RuntimeOptions options, LocalCoreOptions local)
    : RuntimeCore(std::move(options)), local_(local), rng_(local.seed) {}

LocalCore::~LocalCore() { stop(); }

void LocalCore::stop() noexcept {
  if (stopped_) return;
  stopped_ = true;
  stop_pools();
  ready_.clear();
  {
    std::lock_guard<std::mutex> g(inject_mu_);
    inject_.clear();
  }
  abandon_live_tasks();
}

std::uint64_t LocalCore::now_ms() const noexcept {
  // acquire: pairs with the release in advance(), for threads other than the owner.
  if (local_.virtual_time) return virtual_now_.load(std::memory_order_acquire);
  return RuntimeCore::now_ms();
}

void LocalCore::schedule(TaskHeader* t, ScheduleHint) noexcept {
  if (running_ && std::this_thread::get_id() == owner_) {
    ready_.push_back(t);
    return;
  }
  {
    std::lock_guard<std::mutex> g(inject_mu_);
    inject_.push_back(t);
  }
  driver().unpark();
}

void LocalCore::drain_inject() noexcept {
  std::lock_guard<std::mutex> g(inject_mu_);
  while (!inject_.empty()) {
    ready_.push_back(inject_.front());
    inject_.pop_front();
  }
}

TaskHeader* LocalCore::pick() noexcept {
  if (ready_.empty()) return nullptr;
  std::size_t i = 0;
  if (local_.seeded_order && ready_.size() > 1) i = rng_() % ready_.size();
  TaskHeader* t = ready_[i];
  ready_.erase(ready_.begin() + static_cast<std::ptrdiff_t>(i));
  return t;
}

void LocalCore::advance(std::uint64_t ms) {
  virtual_now_.fetch_add(ms, std::memory_order_release);
  process_timers();
}

template <class Done>
bool LocalCore::run_until(Done done, std::chrono::steady_clock::time_point deadline) {
  owner_ = std::this_thread::get_id();
  running_ = true;
  RuntimeCore* prev_core = RuntimeCore::current();
  RuntimeCore::set_current(this);
  bool progressed = true;
  unsigned since_poll = 0;
  while (!done()) {
    drain_inject();
    if (TaskHeader* t = pick()) {
      if (execute(t)) ready_.push_back(t);
      // Fairness against I/O and timers: poll them now and then even while tasks are ready.
      if (++since_poll >= options_.event_interval) {
        since_poll = 0;
        driver().wait(0);
        process_timers();
      }
      continue;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      progressed = false;
      break;
    }
    // Nothing ready: I/O first, then timers.
    driver().wait(0);
    process_timers();
    drain_inject();
    if (!ready_.empty()) continue;
    std::uint64_t next = next_timer_deadline();
    if (local_.virtual_time) {
      if (next != TimerWheel::kNever && !has_external_work()) {
        // Every task is blocked: jump the clock to the next timer.
        std::uint64_t now = virtual_now_.load(std::memory_order_relaxed);
        if (next > now) virtual_now_.store(next, std::memory_order_release);
        process_timers();
        continue;
      }
      // Only I/O or another thread can wake a task now; wait for them in real time.
      driver().wait(10);
      continue;
    }
    int timeout = -1;
    if (next != TimerWheel::kNever) {
      std::uint64_t now = now_ms();
      timeout = next <= now ? 0 : static_cast<int>(std::min<std::uint64_t>(next - now, 60'000));
    }
    auto until_deadline =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (deadline != std::chrono::steady_clock::time_point::max()) {
      int cap = static_cast<int>(std::max<std::int64_t>(0, until_deadline.count()));
      timeout = timeout < 0 ? cap : std::min(timeout, cap);
    }
    driver().wait(timeout);
    process_timers();
  }
  RuntimeCore::set_current(prev_core);
  running_ = false;
  return progressed;
}

void LocalCore::block_until_complete(JoinCellBase* j) {
  if (running_) throw Error("block_on() called from inside a task of the same runtime");
  run_until([j] { return j->is_complete(); }, std::chrono::steady_clock::time_point::max());
}

void LocalCore::wait_idle_until(std::chrono::steady_clock::time_point deadline) {
  if (running_) return;
  run_until([this] { return alive() == 0; }, deadline);
}

}  // namespace tether::detail

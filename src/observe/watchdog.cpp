// The watchdog: blocking and hung task detection; see include/tether/observe/watchdog.hpp.
//
// Protocol:
//  1. Blocking. Each thread that runs tasks has a RunSlot (runtime_core.hpp): the task it runs (null
//     between runs) and how many runs it began. A check that finds a slot in the same run (same
//     count, same task) as an earlier check at least `blocking_threshold` before flags it once,
//     looks the task up in the registry to take a reference (the slot's pointer alone may dangle),
//     and keeps it pending until the task can be inspected (it suspended: report with frames) or
//     completed (report without), or has run on past the patience limit (report without frames).
//  2. Hung. A hung check bumps the runtime's watch epoch and remembers (epoch, time). A task stamps
//     the current epoch each time it begins to run, so a task that stamped epoch k last ran before
//     the check that started epoch k+1: it has been suspended at least since then.
//  3. Each task carries `watchdog_reported` bits, written only under inspection_mutex(), so even two
//     watchdogs on one runtime report a task once per kind.
#include "tether/observe/watchdog.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "inspect.hpp"

namespace tether::observe {
namespace {

namespace core = ::tether::detail;

constexpr std::uint8_t kReportedBlocking = 1;
constexpr std::uint8_t kReportedHung = 2;

std::chrono::milliseconds clamp_ms(std::chrono::milliseconds v, std::chrono::milliseconds lo,
                                   std::chrono::milliseconds hi) {
  return std::max(lo, std::min(v, hi));
}

// Waits that end by themselves, or carry a Deadline by construction: a sleep, an interval tick, and
// every I/O wait (tether I/O always has a deadline; an endless one is spelled Deadline::never()).
bool bounded_by_design(std::string_view what) {
  for (const char* prefix : {"sleep", "interval", "io "}) {
    if (what.starts_with(prefix)) return true;
  }
  return false;
}

}  // namespace

std::string WatchdogReport::to_string() const {
  std::string s = "watchdog: ";
  if (kind == Kind::kBlocking) {
    s += "task blocked " + (thread >= 0 ? "thread " + std::to_string(thread) : std::string("its thread")) +
         " for at least " + std::to_string(duration.count()) +
         "ms without suspending (move blocking or CPU-heavy work to spawn_blocking / spawn_compute)";
    if (still_running) {
      s += "; it is still running, so no async backtrace";
    } else if (task.backtrace.empty()) {
      s += "; it completed before it could be inspected";
    } else {
      s += "; async backtrace at its next suspension";
    }
  } else {
    s += "task has waited at least " + std::to_string(duration.count()) +
         "ms on something with no deadline (possibly hung; give the wait a timeout, or spell "
         "Deadline::never() if forever is meant)";
  }
  s += ":\n  " + task.to_string();
  return s;
}

Watchdog::Watchdog(Runtime& rt, WatchdogOptions options, bool start_thread) : rt_(rt), options_(std::move(options)) {
  using std::chrono::milliseconds;
  milliseconds hung_period = clamp_ms(options_.hung_threshold / 4, milliseconds(5), milliseconds(1000));
  period_ = options_.blocking_threshold.count() > 0
                ? clamp_ms(options_.blocking_threshold / 4, milliseconds(5), milliseconds(1000))
                : hung_period;
  hung_period_ = std::max(hung_period, period_);
  bool anything = options_.blocking_threshold.count() > 0 || options_.hung_threshold.count() > 0;
  if (start_thread && anything) monitor_ = std::thread([this] { monitor_loop(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> g(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
  std::lock_guard<std::mutex> g(check_mu_);
  for (PendingBlocking& p : pending_) p.task->release();
  pending_.clear();
}

void Watchdog::monitor_loop() {
  std::string name = rt_.options().name + "-wd";
  if (name.size() > 15) name.resize(15);
  pthread_setname_np(pthread_self(), name.c_str());
  std::unique_lock<std::mutex> lk(stop_mu_);
  while (!stop_cv_.wait_for(lk, period_, [this] { return stop_; })) {
    lk.unlock();
    try {
      check();
    } catch (...) {
      // Out of memory while reporting: skip this round; the next one retries.
    }
    lk.lock();
  }
}

std::vector<WatchdogReport> Watchdog::check() {
  std::vector<WatchdogReport> out;
  std::lock_guard<std::mutex> g(check_mu_);
  auto now = std::chrono::steady_clock::now();
  if (options_.blocking_threshold.count() > 0) {
    resolve_pending(now, false, out);
    check_blocking(now, out);
  }
  if (options_.hung_threshold.count() > 0) {
    std::uint64_t now_ms = rt_.core().now_ms();
    if (!hung_checked_ || now_ms - last_hung_check_ms_ >= static_cast<std::uint64_t>(hung_period_.count())) {
      hung_checked_ = true;
      last_hung_check_ms_ = now_ms;
      check_hung(out);
    }
  }
  for (WatchdogReport& r : out) {
    detail::symbolize(r.task.backtrace, true);
    publish(r);
  }
  return out;
}

void Watchdog::check_blocking(std::chrono::steady_clock::time_point now, std::vector<WatchdogReport>& out) {
  (void)out;
  core::RuntimeCore& rt = rt_.core();
  struct Sample {
    unsigned index;
    std::uint64_t runs;
    const void* task;
  };
  std::vector<Sample> samples;
  rt.for_each_run_slot([&](const core::RuntimeCore::RunSlot& s) {
    // acquire: pairs with begin_run()'s release of `runs`, so `task` is at least that run's.
    std::uint64_t runs = s.runs.load(std::memory_order_acquire);
    samples.push_back({s.index, runs, s.task.load(std::memory_order_relaxed)});
  });
  for (const Sample& s : samples) {
    SlotSeen& seen = slots_seen_[s.index];
    if (!s.task || s.runs != seen.runs || s.task != seen.task) {
      seen = SlotSeen{.runs = s.runs, .task = s.task, .since = now, .flagged = false};
      continue;
    }
    if (seen.flagged || now - seen.since < options_.blocking_threshold) continue;
    seen.flagged = true;
    // Rule 1: the slot's pointer may dangle; the registry holds live tasks only.
    core::TaskHeader* found = nullptr;
    std::lock_guard<std::mutex> ig(detail::inspection_mutex());
    for (core::TaskHeader* t : rt.live_tasks()) {
      if (t == s.task && !found && !(t->watchdog_reported & kReportedBlocking) && !t->is_complete()) {
        t->watchdog_reported |= kReportedBlocking;
        found = t;  // keeps the reference live_tasks() took
      } else {
        t->release();
      }
    }
    if (found) {
      pending_.push_back({found, now,
                          std::chrono::duration_cast<std::chrono::milliseconds>(now - seen.since) +
                              std::chrono::duration_cast<std::chrono::milliseconds>(period_),
                          static_cast<int>(s.index)});
    }
  }
}

void Watchdog::resolve_pending(std::chrono::steady_clock::time_point now, bool force,
                               std::vector<WatchdogReport>& out) {
  auto patience = std::max<std::chrono::milliseconds>(4 * options_.blocking_threshold, std::chrono::seconds(1));
  for (std::size_t i = 0; i < pending_.size();) {
    PendingBlocking& p = pending_[i];
    WatchdogReport r;
    r.kind = WatchdogReport::Kind::kBlocking;
    r.thread = p.thread;
    bool done = false;
    {
      std::lock_guard<std::mutex> ig(detail::inspection_mutex());
      bool alive = detail::inspect(rt_.core(), p.task, r.task);
      if (!alive) {
        // Completed: only what never changes can still be read.
        r.task.id = p.task->id();
        r.task.name = p.task->display_name();
        const char* file = p.task->location().file_name();
        const char* slash = std::strrchr(file, '/');
        r.task.spawned_at = std::string(slash ? slash + 1 : file) + ":" + std::to_string(p.task->location().line());
        r.task.state = TaskState::kRunning;
        done = true;
      } else if (r.task.state != TaskState::kRunning) {
        done = true;
      } else if (force || now - p.detected >= patience) {
        r.still_running = true;
        done = true;
      }
    }
    if (!done) {
      ++i;
      continue;
    }
    r.duration = p.duration;
    out.push_back(std::move(r));
    p.task->release();
    pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

void Watchdog::check_hung(std::vector<WatchdogReport>& out) {
  core::RuntimeCore& rt = rt_.core();
  std::uint64_t now_ms = rt.now_ms();
  std::uint64_t threshold = static_cast<std::uint64_t>(options_.hung_threshold.count());
  // Rule 2. Tasks that begin to run from here on stamp `epoch`.
  std::uint64_t epoch = rt.advance_watch_epoch();
  epoch_times_.emplace_back(epoch, now_ms);
  // Entries older than the threshold are only needed as the one lower bound before it.
  while (epoch_times_.size() >= 2 && epoch_times_[1].second + threshold <= now_ms) epoch_times_.pop_front();

  std::lock_guard<std::mutex> ig(detail::inspection_mutex());
  for (core::TaskHeader* t : rt.live_tasks()) {
    detail::WaitPeek peek;
    // The cheap filter first (no allocation): most tasks are running, ready, recent or bounded.
    if (!(t->watchdog_reported & kReportedHung) && detail::peek_waiting(t, peek) && !peek.has_deadline &&
        !bounded_by_design(peek.waiting_on ? peek.waiting_on : "")) {
      // Suspended at least since the check that started epoch last_run_epoch + 1.
      std::uint64_t next = peek.last_run_epoch + 1;
      std::uint64_t since = now_ms;
      for (const auto& [e, at] : epoch_times_) {
        if (e >= next) {
          since = at;
          break;
        }
      }
      TaskSnapshot snap;
      detail::InspectExtra extra;
      // Confirm with a full snapshot: it must still wait in the same suspension.
      if (now_ms - since >= threshold && detail::inspect(rt, t, snap, &extra) && snap.state == TaskState::kWaiting &&
          extra.last_run_epoch == peek.last_run_epoch) {
        t->watchdog_reported |= kReportedHung;
        WatchdogReport r;
        r.kind = WatchdogReport::Kind::kHung;
        r.duration = std::chrono::milliseconds(now_ms - since);
        r.task = std::move(snap);
        out.push_back(std::move(r));
      }
    }
    t->release();
  }
}

void Watchdog::publish(const WatchdogReport& r) {
  try {
    rt_.core().logger().warn("{}", r.to_string());
  } catch (...) {
    // Logging must never take the monitor down.
  }
  if (options_.on_report) options_.on_report(r);
}

}  // namespace tether::observe

namespace tether::detail {

void WatchdogDeleter::operator()(observe::Watchdog* w) const noexcept { delete w; }

std::unique_ptr<observe::Watchdog, WatchdogDeleter> start_runtime_watchdog(Runtime& rt) {
  // TETHER_WATCHDOG=0 turns it off without a rebuild (operations, overhead measurements).
  if (const char* env = std::getenv("TETHER_WATCHDOG"); env && std::strcmp(env, "0") == 0) return nullptr;
  return std::unique_ptr<observe::Watchdog, WatchdogDeleter>(new observe::Watchdog(rt, rt.options().watchdog));
}

}  // namespace tether::detail

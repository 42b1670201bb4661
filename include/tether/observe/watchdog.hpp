// tether/observe/watchdog.hpp
//
// Watchdog: finds tasks that block a worker thread and tasks that look hung, and reports each one
// once, at warn level, with its async backtrace (task_dump.hpp).
//
//   WatchdogReport   one finding: which kind, for how long, and the task's snapshot
//   Watchdog         checks one runtime, from its own monitor thread or when you call check()
//
// Every Runtime runs one by default (RuntimeOptions::watchdog, see runtime_options.hpp for the
// thresholds and the on_report callback); construct one yourself only to drive it by hand, e.g.
// on a VirtualRuntime, which never starts one.
//
// What it reports:
//  - blocking: a task has been running on a thread for longer than `blocking_threshold` without
//    suspending, so that thread runs nothing else (a blocking call, a long CPU loop: move it to
//    spawn_blocking / spawn_compute). Since a running task's frames cannot be read, the report is
//    made once the task suspends again (with the backtrace of that suspension), or, if it is still
//    running after four thresholds (at least one second), without a backtrace.
//  - hung: a task has been suspended for longer than `hung_threshold` on something with no
//    deadline: no timeout scope encloses the wait, and it is not a sleep or an I/O wait (tether
//    I/O always carries a deadline). Waiting forever on purpose is spelled
//    `timeout_at(Deadline::never(), ...)`, which silences it.
// Each task is reported at most once per kind.
//
// How it stays cheap: each run of a task stores a task pointer, a run count and an epoch number
// (relaxed stores, no clock read; TaskHeader::begin_run). The monitor samples the per-thread run
// slots every quarter of the blocking threshold, and walks the task registry (one inspection claim
// per task, see task_dump.hpp) every quarter of the hung threshold, at most once a second.
//
// When to use something else: dump_tasks() for the whole picture on demand.
//
// Thread safety: thread-safe; check() may be called from any thread (calls are serialised).
// Lifetime: the Runtime must outlive the Watchdog; destroying it stops its monitor thread.
// Example: tests/observe/watchdog_test.cpp
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tether/core/runtime.hpp"
#include "tether/core/runtime_options.hpp"
#include "tether/observe/task_dump.hpp"

namespace tether::observe {

// One finding. Plain value.
struct WatchdogReport {
  enum class Kind : std::uint8_t {
    kBlocking,  // held a thread for `duration` without suspending
    kHung,      // has waited `duration` (at least) with no deadline
  };
  Kind kind = Kind::kBlocking;
  std::chrono::milliseconds duration{0};
  int thread = -1;             // kBlocking: the runtime's thread index it blocked
  bool still_running = false;  // kBlocking: reported while still running (no backtrace)
  TaskSnapshot task;           // for kBlocking, its frames at its next suspension (if any)

  // The warn line the watchdog logs.
  std::string to_string() const;
};

class Watchdog {
 public:
  // Watches `rt`. With `start_thread`, a monitor thread calls check() periodically; without it,
  // nothing happens until you call check() (deterministic tests, virtual time).
  Watchdog(Runtime& rt, WatchdogOptions options, bool start_thread = true);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // One pass now: samples the threads (a blocking task is seen by the second pass that finds it
  // in the same run at least `blocking_threshold` later) and, if due, looks for hung tasks.
  // Logs each new report at warn level, passes it to `on_report`, and returns the new ones.
  std::vector<WatchdogReport> check();

  // How often the monitor thread calls check().
  std::chrono::milliseconds period() const noexcept { return period_; }

 private:
  struct SlotSeen {
    std::uint64_t runs = 0;
    const void* task = nullptr;
    std::chrono::steady_clock::time_point since{};
    bool flagged = false;  // this run was already taken up
  };
  struct PendingBlocking {
    tether::detail::TaskHeader* task;  // holds a reference
    std::chrono::steady_clock::time_point detected;
    std::chrono::milliseconds duration;
    int thread;
  };

  void check_blocking(std::chrono::steady_clock::time_point now, std::vector<WatchdogReport>& out);
  void resolve_pending(std::chrono::steady_clock::time_point now, bool force, std::vector<WatchdogReport>& out);
  void check_hung(std::vector<WatchdogReport>& out);
  void publish(const WatchdogReport& r);
  void monitor_loop();

  // Constant after construction
  Runtime& rt_;
  const WatchdogOptions options_;
  std::chrono::milliseconds period_;
  std::chrono::milliseconds hung_period_;

  std::mutex check_mu_;  // serialises check(); guards everything below up to the monitor fields
  std::unordered_map<unsigned, SlotSeen> slots_seen_;
  std::vector<PendingBlocking> pending_;
  std::deque<std::pair<std::uint64_t, std::uint64_t>> epoch_times_;  // (epoch, runtime ms) of past checks
  std::uint64_t last_hung_check_ms_ = 0;
  bool hung_checked_ = false;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;  // guarded by stop_mu_
  std::thread monitor_;
};

}  // namespace tether::observe

// Internal; not part of the public API.
//
// RuntimeCore: what every scheduler flavour shares and what tasks, timers and pools reach through
// their TaskHeader: options, the root of the cancellation tree, the timer wheel, the event driver,
// the thread pools, counters, and lifecycle logging. The flavours (multi-thread, current-thread,
// virtual-time) implement schedule(), now_ms() and park/unpark.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tether/core/detail/driver.hpp"
#include "tether/core/detail/task_header.hpp"
#include "tether/core/detail/timer_wheel.hpp"
#include "tether/core/runtime_options.hpp"

namespace spdlog {
class logger;
}

namespace tether::detail {

class ThreadPool;
struct RuntimeCounters;

// The root of a runtime's cancellation tree. Cancelled by shutdown().
class RootState final : public CancelState {
 public:
  RootState() : CancelState(nullptr) {}
  void drop() noexcept { release(); }

 protected:
  void destroy_self() noexcept override { delete this; }
};

// The number of worker threads a runtime with these options runs: 1 for the current-thread
// flavour, else options.workers or one per hardware thread.
unsigned worker_count_for(const RuntimeOptions& options) noexcept;

class RuntimeCore {
 public:
  explicit RuntimeCore(RuntimeOptions options);
  virtual ~RuntimeCore();
  RuntimeCore(const RuntimeCore&) = delete;
  RuntimeCore& operator=(const RuntimeCore&) = delete;

  // Queues a task that became runnable. Callable from any thread.
  virtual void schedule(TaskHeader* t, ScheduleHint hint) noexcept = 0;
  // Milliseconds on the runtime's clock (real monotonic, or virtual in tether::testing).
  virtual std::uint64_t now_ms() const noexcept;
  virtual bool is_virtual_time() const noexcept { return false; }
  virtual unsigned worker_count() const noexcept = 0;

  // Timers. add_timer() returns false if the deadline already passed (the caller fires it itself).
  bool add_timer(TimerEntry* e) noexcept;
  void remove_timer(TimerEntry* e) noexcept;
  // Fires every timer due by now; returns the next deadline (TimerWheel::kNever if none).
  std::uint64_t process_timers() noexcept;
  std::uint64_t next_timer_deadline() const noexcept;
  std::size_t timer_count() const noexcept;
  // Runs f(TimerWheel&) under the timer lock: for an entry its owner keeps linked across many
  // waits and moves itself (an I/O object's deadline timer, registration.cpp). f must be short and
  // may take only locks that are never held while taking the timer lock.
  template <class F>
  void with_timer_wheel(F&& f) noexcept {
    std::uint64_t before, after;
    {
      std::lock_guard<std::mutex> g(timer_mu_);
      before = wheel_.next_expiration();
      f(wheel_);
      after = wheel_.next_expiration();
    }
    if (after < before) on_earlier_timer(after);
  }

  Driver& driver() noexcept { return *driver_; }
  ThreadPool& blocking_pool();  // started on first use
  ThreadPool& compute_pool();   // started on first use
  // For metrics: the pools if they were started, else null.
  ThreadPool* blocking_pool_if_started() noexcept;
  ThreadPool* compute_pool_if_started() noexcept;

  const RuntimeOptions& options() const noexcept { return options_; }
  spdlog::logger& logger() const noexcept { return *logger_; }
  // For headers that cannot include spdlog.
  void log_error(std::string_view message) const noexcept;
  CancelState* root() noexcept { return root_; }
  // Unique within this runtime. Each thread takes ids in blocks of kTaskIdBlock, so spawns on
  // different workers do not contend on one counter (ids rise per thread, not globally).
  std::uint64_t next_task_id() noexcept;
  static constexpr std::uint64_t kTaskIdBlock = 1024;
  RuntimeCounters& counters() noexcept { return *counters_; }

  // Lifecycle logging and counting (debug start/complete, error on unobserved failure).
  void on_task_spawned(TaskHeader* t) noexcept;
  void on_task_completed(TaskHeader* t) noexcept;

  // A finished task leaves the registry and drops `refs` references (TaskHeader::complete()), now
  // or in a batch (RetireBatch): a task finished by another thread than the one that spawned it
  // would otherwise take that thread's registry lock once per task, the most contended line of a
  // fan-out. Until then the header stays in the registry, complete (live_tasks() skips it).
  struct RetireBatch {
    static constexpr std::size_t kMax = 64;
    TaskHeader* tasks[kMax];
    std::uint32_t refs[kMax];
    std::size_t size = 0;
  };
  void retire_now(TaskHeader* t, std::uint32_t refs) noexcept;
  void retire_later(RetireBatch& batch, TaskHeader* t, std::uint32_t refs) noexcept;
  void flush(RetireBatch& batch) noexcept;

  // Every live task (not yet complete), each with a reference the caller must release.
  std::vector<TaskHeader*> live_tasks();
  // Tasks spawned and not yet completed (a snapshot).
  std::uint64_t alive() const noexcept;
  // Cancels the root and every live task (tasks spawned under foreign tokens included).
  void cancel_all();

  // Runs `t` to completion from a thread outside the runtime (Runtime::block_on).
  virtual void block_until_complete(JoinCellBase* j) = 0;
  // Waits until no task is alive or the deadline passes (steady clock); runs tasks meanwhile if
  // the flavour has no workers of its own.
  virtual void wait_idle_until(std::chrono::steady_clock::time_point deadline) = 0;
  // Blocking-pool jobs in flight: the virtual clock does not jump while they run.
  void external_work_started() noexcept { external_inflight_.fetch_add(1, std::memory_order_relaxed); }
  void external_work_finished() noexcept {
    external_inflight_.fetch_sub(1, std::memory_order_release);  // release: see has_external_work()
    driver_->unpark();
  }
  bool has_external_work() const noexcept { return external_inflight_.load(std::memory_order_acquire) != 0; }
  bool shut_down() const noexcept { return shut_down_.load(std::memory_order_acquire); }
  void mark_shut_down() noexcept { shut_down_.store(true, std::memory_order_release); }

  // Watchdog support (tether/observe/watchdog.hpp). Every thread that runs this runtime's tasks owns
  // a RunSlot saying what it runs now and how many runs it began, so a monitor can spot a task that
  // holds its thread too long. Hot-path cost: three relaxed stores and a thread-local load per run
  // (TaskHeader::begin_run / end_run), no clock read.
  struct alignas(64) RunSlot {
    Atomic<TaskHeader*> task{nullptr};  // the task being run; null between runs
    Atomic<std::uint64_t> runs{0};      // runs begun on this thread (release: see begin_run)
    unsigned index = 0;                 // constant: the order in which threads first ran a task
  };
  // The calling thread's slot, created on first use.
  RunSlot& run_slot() noexcept;
  // Calls fn(const RunSlot&) for every slot, under the slots lock.
  template <class Fn>
  void for_each_run_slot(Fn&& fn) const {
    std::lock_guard<std::mutex> g(run_slots_mu_);
    for (const RunSlot& s : run_slots_) fn(s);
  }
  // The watchdog's epoch: bumped by each watchdog check; a task records it when it begins to run, so
  // the watchdog can tell how long a task has been waiting without a clock read per run.
  // relaxed: a diagnostic stamp; the inspection claim orders the task's copy (task_header.hpp rule 4).
  std::uint64_t watch_epoch() const noexcept { return watch_epoch_.load(std::memory_order_relaxed); }
  std::uint64_t advance_watch_epoch() noexcept { return watch_epoch_.fetch_add(1, std::memory_order_relaxed) + 1; }
  // A number no other RuntimeCore in this process had or will have (keys thread-local caches).
  std::uint64_t serial() const noexcept { return serial_; }

  // Milliseconds on the process-wide monotonic clock that real-time runtimes share.
  static std::uint64_t process_now_ms() noexcept;
  // process_now_ms() rounded up instead of down (see Clock::now_rounded_up()).
  static std::uint64_t process_now_ms_rounded_up() noexcept;

  // The runtime of the calling thread (a worker, or a thread inside block_on), or null.
  static RuntimeCore* current() noexcept;
  static void set_current(RuntimeCore* core) noexcept;

 protected:
  // Called with the deadline of a new earliest timer, so a parked driver can wake up earlier.
  virtual void on_earlier_timer(std::uint64_t /*deadline_ms*/) noexcept {}
  // Runs one turn of `t` on the calling thread. Returns true if the task must be queued again (it
  // yielded, or was woken while it was suspending). A task that finishes is retired into `batch`
  // (flushed by the caller before it sleeps or leaves), or at once without one.
  bool execute(TaskHeader* t, RetireBatch* batch = nullptr) noexcept;
  // Destroys the frames of tasks that never finished. Workers must be stopped.
  void abandon_live_tasks() noexcept;
  void stop_pools() noexcept;

  RuntimeOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  RootState* root_;
  std::unique_ptr<Driver> driver_;
  std::unique_ptr<RuntimeCounters> counters_;

 private:
  Atomic<std::uint64_t> next_id_{1};
  Atomic<std::uint64_t> external_inflight_{0};
  Atomic<bool> shut_down_{false};
  static std::uint64_t next_serial() noexcept;
  const std::uint64_t serial_ = next_serial();
  Atomic<std::uint64_t> watch_epoch_{0};
  mutable std::mutex run_slots_mu_;
  std::deque<RunSlot> run_slots_;  // guarded by run_slots_mu_; elements never move
  struct alignas(64) RegistryShard {
    SpinLock mu;
    TaskHeader* head = nullptr;  // guarded by mu
  };
  static constexpr unsigned kRegistryShards = 16;
  RegistryShard registry_[kRegistryShards];
  mutable std::mutex timer_mu_;
  TimerWheel wheel_;  // guarded by timer_mu_
  std::mutex pools_mu_;
  std::unique_ptr<ThreadPool> blocking_pool_;  // started on first use; guarded by pools_mu_
  std::unique_ptr<ThreadPool> compute_pool_;   // started on first use; guarded by pools_mu_
  bool debug_enabled_;
};

}  // namespace tether::detail

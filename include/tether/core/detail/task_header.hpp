// Internal; not part of the public API.
//
// TaskHeader: the part of a spawned task that the scheduler sees, independent of the result type.
// TaskCell<T> (join_handle.hpp) derives from it and knows the result type; the result itself goes
// to the task's JoinCell (join_cell.hpp), which outlives the header when the handle is joined late.
//
// Scheduling state machine (`state_`), after the design of Tokio's task harness:
//   kScheduled  in a run queue (a spawned task starts here)
//   kRunning    a worker is resuming it
//   kRunning|kNotified  woken while running: the worker queues it again once resume() returns
//   kIdle       suspended, in no queue; a wake moves it to kScheduled and queues it
//   kComplete   finished; wakes are ignored
// Transitions:
//  1. wake(): kIdle -> kScheduled (and queue it); kRunning -> kRunning|kNotified; else nothing.
//     A wake that finds kScheduled or kNotified is absorbed: the pending run resumes `resume_point`,
//     which the task sets before it publishes any waiter (waiter.hpp rule 1 makes each suspension's
//     wake unique, so an absorbed wake is never needed twice).
//  2. A worker moves kScheduled -> kRunning, resumes, then kRunning -> kIdle; if kNotified was set
//     it goes to kScheduled and is queued at the back (it yielded or was woken while suspending).
//  3. When the root coroutine finishes, the worker moves the result into the join cell, destroys the
//     frame, sets kComplete, and completes the join cell (which wakes the joiner).
//  4. Inspection (task dumps, the watchdog): an inspector may set kInspecting on a task that is
//     kIdle or kScheduled (try_begin_inspection, one CAS), which keeps it from running, so its
//     frames and its `Access: only by the thread running the task` fields hold still while it reads
//     them. A wake during inspection still moves kIdle -> kScheduled and queues the task (the bit is
//     kept); a worker's begin_run() that finds the bit spins until end_inspection() clears it.
//     Inspectors only copy pointers and strings under the claim (microseconds), never symbolise.
//     acq_rel on both sides: the inspector sees what the last run wrote, the next run sees nothing
//     new (the inspector writes nothing the task reads).
//
// References: the task's run (the "alive" reference, dropped at completion), its join cell (dropped
// at completion, unless the task failed: join_cell.hpp rule 2), and each child scope or task
// (cancel_state.hpp rule 3).
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <source_location>
#include <string>

#include "tether/core/detail/cancel_state.hpp"
#include "tether/core/detail/waiter.hpp"

namespace tether::detail {

class RuntimeCore;
class PromiseBase;
class JoinCellBase;

// One lock a task holds through a guard (the sync layer's Mutex/RwLock guards embed it). The task
// keeps its held locks in an intrusive list; a task that suspends while the list is non-empty is
// reported through the innermost record's `report` (lock-across-await detector; the sync layer
// owns the policy: abort, log or ignore). Access: only by the thread running the owning task.
struct HeldLock {
  void (*report)(TaskHeader* task, const HeldLock* innermost) noexcept = nullptr;
  const char* kind = "";  // "mutex", "rwlock read", ...
  std::source_location where;
  HeldLock* prev = nullptr;
  HeldLock* next = nullptr;
};

enum class ScheduleHint : std::uint8_t {
  kSpawn,  // a new task: the LIFO slot (depth-first fan-out); it may wake another worker to steal
  kWake,   // woken by the running task: the LIFO slot, for message-passing locality
  kYield,  // gave up its turn: back of the queue, never the LIFO slot
};

// What a task waits on: a static string written by the task's own thread at each suspension and
// read by diagnostics (Runtime::tasks(), task dumps, the watchdog) from any thread, so a relaxed
// atomic: the pointed-to strings are literals, so nothing else needs ordering.
class WaitingOn {
 public:
  WaitingOn& operator=(const char* what) noexcept {
    what_.store(what, std::memory_order_relaxed);
    return *this;
  }
  operator const char*() const noexcept { return what_.load(std::memory_order_relaxed); }

 private:
  Atomic<const char*> what_{nullptr};
};

// An awaitable whose work continues on the worker before its task resumes: a read woken by
// readiness tries its syscall there and, if the kernel has nothing after all, waits again without
// resuming the task (io_op.hpp), so the operation needs no coroutine frame of its own.
class ResumeHook {
 public:
  // Called by the worker about to run the task, in the task's context (current task set, budget
  // full). Returns true to resume resume_point; false if the task suspended again instead (the hook
  // armed a new wait or requeued the task, and set resume_hook again if it needs to run next time).
  virtual bool before_resume() noexcept = 0;

 protected:
  ~ResumeHook() = default;
};

class TaskHeader : public CancelState {
 public:
  enum : std::uint32_t { kIdle = 0, kScheduled = 1, kRunning = 2, kNotified = 4, kComplete = 8, kInspecting = 16 };

  TaskHeader(RuntimeCore* core, CancelState* parent, std::uint64_t id, std::source_location loc, std::string_view name);
  ~TaskHeader() override;

  TaskHeader* as_task() noexcept override { return this; }

  // Rule 1. Callable from any thread.
  void wake(ScheduleHint hint = ScheduleHint::kWake) noexcept;

  // Rule 2; used by the schedulers. Returns false if the task already completed.
  bool begin_run() noexcept;
  // Returns true if the task must be queued again (it was notified while running).
  bool end_run() noexcept;

  bool is_complete() const noexcept { return state_.load(std::memory_order_acquire) & kComplete; }

  // Rule 4. Returns false (claiming nothing) if the task is running or complete. Only one inspector
  // at a time per task: callers serialise through their own lock (observe/'s inspection mutex).
  bool try_begin_inspection() noexcept;
  void end_inspection() noexcept;
  // A racy snapshot of the state bits, for diagnostics only.
  std::uint32_t state_for_diagnostics() const noexcept { return state_.load(std::memory_order_relaxed); }
  // Moves the finished frame's result into the join cell and destroys the frame (rule 3). Typed.
  virtual void take_result_and_destroy_frame() noexcept = 0;
  // Destroys the frame of a task that never finished (aborted before it started, or runtime
  // teardown) and records Cancelled as its result.
  virtual void abandon() noexcept = 0;
  // How the finished task ended; classified once, when its result is stored.
  enum class Outcome : std::uint8_t { kPending, kValue, kFailed, kCancelled };
  Outcome outcome() const noexcept { return outcome_; }
  // True if the finished task ended with an exception other than Cancelled.
  bool failed() const noexcept { return outcome_ == Outcome::kFailed; }
  bool cancelled_result() const noexcept { return outcome_ == Outcome::kCancelled; }
  // The failed task's exception message. REQUIRES: the result is stored and complete() has not run.
  // Empty for a task without a join cell (spawn_detached), whose failure was logged already.
  std::string failure_message() const;
  // Logs, at error level, that this task failed with `e` and nobody awaits it.
  void log_unawaited_failure(const std::exception_ptr& e) const noexcept;

  // Rule 3: publishes the completion to the join cell (join_cell.hpp), which wakes the joiner.
  // Returns how many references the caller must drop: the "alive" one, plus the join cell's unless
  // the cell keeps it (a failed task). After that the header may be freed.
  [[nodiscard]] std::uint32_t complete() noexcept;
  // The join cell, from spawn until complete(); none for spawn_detached(). Set once by spawn, before
  // the task can run.
  void set_join_cell(JoinCellBase* j) noexcept { join_ = j; }

  std::string display_name() const;
  std::uint64_t id() const noexcept { return id_; }
  const std::source_location& location() const noexcept { return loc_; }
  std::chrono::steady_clock::time_point spawn_time() const noexcept { return spawn_time_; }
  RuntimeCore* core() const noexcept { return core_; }

  // Constant after construction
  RuntimeCore* const core_;
  const std::uint64_t id_;
  const std::source_location loc_;
  const std::unique_ptr<char[]> name_;  // null: the spawn location names the task
  const std::chrono::steady_clock::time_point spawn_time_;

  // Access: only by the thread running the task (or the scheduler between runs).
  std::coroutine_handle<> resume_point;
  // Runs before resume_point at the next run, which takes it (ResumeHook); null mostly.
  ResumeHook* resume_hook = nullptr;
  CancelState* scope;      // innermost cancellation scope; `this` outside any timeout/shield
  bool root_done = false;  // set by the root frame's final_suspend
  bool started = false;
  // Set by the cell when the result is stored, before complete() publishes it.
  Outcome outcome_ = Outcome::kPending;
  std::uint8_t reg_shard = 0;  // registry shard; constant after spawn
  std::uint16_t budget = 0;    // cooperative budget left in this run (kTaskBudget at most)
  // select() branch of a single awaitable (waiter.hpp rule 4); constant after spawn.
  std::int16_t select_branch = SelectGroup::kNone;
  WaitingOn waiting_on;                 // what the task waits on, for dumps ("recv", "sleep", ...)
  HeldLock* held_locks = nullptr;       // innermost lock held through a guard (see HeldLock)
  SelectGroup* select_group = nullptr;  // with select_branch

  // The root frame, for async backtraces (and, typed, for the cell's result). Set at spawn; null
  // once the frame is destroyed, by the thread that completes the task.
  void* root_frame = nullptr;
  // Its promise, for async backtraces; null with root_frame. Typed, so computed by the cell.
  virtual PromiseBase* root_promise() const noexcept = 0;
  // RuntimeCore's watchdog epoch when the task last began to run (the watchdog's "waiting since").
  // Access: written by the thread running the task; read by an inspector under rule 4.
  std::uint64_t last_run_epoch = 0;

  // Access: only by the run queue that holds the task.
  TaskHeader* next_in_queue = nullptr;
  // Access: only under the runtime's registry shard lock.
  TaskHeader* reg_prev = nullptr;
  TaskHeader* reg_next = nullptr;

 protected:
  void destroy_self() noexcept override = 0;

  // Access: only by the thread running the task, before complete().
  JoinCellBase* join_ = nullptr;

 private:
  // Atomic: see the state machine above
  Atomic<std::uint32_t> state_{kScheduled};

 public:
  // Which watchdog reports were already made for this task. Access: only by the watchdog's checks
  // (serialised by the watchdog's lock). (Last, in what would be padding after state_.)
  std::uint8_t watchdog_reported = 0;
};

// The task the calling thread is running, or null outside a task.
TaskHeader* current_task() noexcept;
void set_current_task(TaskHeader* t) noexcept;

inline void Waiter::wake() noexcept { task->wake(ScheduleHint::kWake); }

inline bool Waiter::claim_notify() noexcept {
  // Rule 4: a select branch must win its group before it may accept anything.
  if (task->select_group && !task->select_group->try_win(task->select_branch)) {
    if (claim_cancel()) wake();  // lost: it wakes as cancelled, and the primitive keeps its value
    return false;
  }
  std::uint8_t expected = kWaiting;
  return state_.compare_exchange_strong(expected, kNotified, std::memory_order_acq_rel);
}

// Rule 4: may the current task take a value that is already there, without waiting? Always yes,
// except in a select branch that lost (or cannot win) its group.
inline bool may_consume() noexcept {
  TaskHeader* t = current_task();
  return !t || !t->select_group || t->select_group->try_win(t->select_branch);
}

// Cooperative budget: operations that complete without suspending spend one unit; when the budget is
// spent the operation suspends anyway (a yield), so a task on a hot path cannot starve its neighbours.
constexpr std::uint16_t kTaskBudget = 128;

// Arms `w` for the current task in its innermost scope and records where to resume. Returns false
// if the task is cancelled (then nothing was armed: the caller must not suspend, and its await_resume
// throws Cancelled). Call it last in await_suspend, under the primitive's lock if it has one.
bool arm_current(Waiter& w, std::coroutine_handle<> h) noexcept;
// Undoes arm_current(); call first in await_resume. Returns true if the waiter was notified (as
// opposed to cancelled).
bool disarm(Waiter& w) noexcept;
// Called at every suspension of a task (arm_current, yield): reports it if it holds a guard.
inline void check_no_held_locks(TaskHeader* t) noexcept {
  if (t->held_locks) [[unlikely]]
    t->held_locks->report(t, t->held_locks);
}
// Throws Cancelled if the current task's scope is cancelled.
void throw_if_cancelled();
// Spends one budget unit; returns false when the budget is spent (the caller should yield).
bool consume_budget() noexcept;
// The suspension of a yield: the current task is queued again (at the back) to resume at `h`.
// REQUIRES: a current task, and the caller suspends right after.
void requeue_current(std::coroutine_handle<> h) noexcept;

}  // namespace tether::detail

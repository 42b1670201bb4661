// TaskHeader state machine and the suspension helpers; protocol in
// include/tether/core/detail/task_header.hpp.
#include "tether/core/detail/task_header.hpp"

#include <spdlog/spdlog.h>

#include <cstring>
#include <ctime>
#include <thread>

#include "tether/core/detail/join_cell.hpp"
#include "tether/core/detail/runtime_core.hpp"
#include "tether/core/error.hpp"
#include "tether/core/task.hpp"
#include "tether/core/this_task.hpp"
#include "tether/core/yield.hpp"

namespace tether::detail {

#if defined(__x86_64__) && !defined(_GLIBCXX_DEBUG)
// Every live task pays for its header (docs/core.md, "What a task costs"; the idle benchmark):
// a field added here should take the place of another, or be worth 16 bytes per task.
static_assert(sizeof(TaskHeader) <= 216, "TaskHeader grew");  // 216: resume_hook (io_op.hpp)
#endif

namespace {

thread_local TaskHeader* tls_current_task = nullptr;

// The calling thread's RunSlot in the runtime with serial `tls_slot_serial` (RuntimeCore::run_slot).
// Keyed by serial rather than by core pointer, so a new runtime at a freed one's address never
// finds the old slot.
thread_local RuntimeCore::RunSlot* tls_slot = nullptr;
thread_local std::uint64_t tls_slot_serial = 0;
std::atomic<std::uint64_t> next_core_serial{1};

inline RuntimeCore::RunSlot& slot_of(RuntimeCore* core) noexcept {
  if (tls_slot_serial == core->serial()) [[likely]]
    return *tls_slot;
  return core->run_slot();
}

// Clears the calling thread's slot if it shows `t` (end of a run; a completion may also come from a
// thread that never ran the task, at teardown).
inline void leave_slot(RuntimeCore* core, TaskHeader* t) noexcept {
  if (tls_slot_serial == core->serial() && tls_slot->task.load(std::memory_order_relaxed) == t) {
    tls_slot->task.store(nullptr, std::memory_order_release);  // release: pairs with the watchdog's acquire
  }
}

// The spawn time only feeds task ages (dumps, shutdown reports) and debug durations, so the
// coarse clock (same epoch as steady_clock, a few ms resolution, no hardware read) is enough.
std::chrono::steady_clock::time_point coarse_now() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

std::unique_ptr<char[]> copy_name(std::string_view name) {
  if (name.empty()) return nullptr;
  auto p = std::make_unique<char[]>(name.size() + 1);
  std::memcpy(p.get(), name.data(), name.size());
  p[name.size()] = '\0';
  return p;
}

}  // namespace

TaskHeader* current_task() noexcept { return tls_current_task; }

std::coroutine_handle<>& trampoline_slot() noexcept {
  thread_local std::coroutine_handle<> slot;
  return slot;
}
void set_current_task(TaskHeader* t) noexcept { tls_current_task = t; }

std::uint64_t RuntimeCore::next_serial() noexcept {
  return next_core_serial.fetch_add(1, std::memory_order_relaxed);  // relaxed: only uniqueness matters
}

RuntimeCore::RunSlot& RuntimeCore::run_slot() noexcept {
  if (tls_slot_serial == serial_) return *tls_slot;
  std::lock_guard<std::mutex> g(run_slots_mu_);
  RunSlot& slot = run_slots_.emplace_back();
  slot.index = static_cast<unsigned>(run_slots_.size() - 1);
  tls_slot = &slot;
  tls_slot_serial = serial_;
  return slot;
}

TaskHeader::TaskHeader(RuntimeCore* core, CancelState* parent, std::uint64_t id, std::source_location loc,
                       std::string_view name)
    : CancelState(parent),
      core_(core),
      id_(id),
      loc_(loc),
      name_(copy_name(name)),
      spawn_time_(coarse_now()),
      scope(this) {}

TaskHeader::~TaskHeader() = default;

void TaskHeader::wake(ScheduleHint hint) noexcept {
  // acquire: we may queue the task, and the worker that runs it must see what the task wrote
  // before it suspended (rule 2's release in end_run()).
  std::uint32_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if ((s & ~kInspecting) == kIdle) {
      // Rule 4: an inspected task is queued all the same; begin_run() waits for the inspector.
      if (state_.compare_exchange_weak(s, (s & kInspecting) | kScheduled, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        core_->schedule(this, hint);
        return;
      }
    } else if (s == kRunning) {
      if (state_.compare_exchange_weak(s, kRunning | kNotified, std::memory_order_acq_rel, std::memory_order_acquire)) {
        return;
      }
    } else {
      return;  // rule 1: already scheduled, already notified, or complete
    }
  }
}

bool TaskHeader::begin_run() noexcept {
  // acq_rel: acquire pairs with the release of the wake CAS / end_run() / end_inspection(), so this
  // run sees what the previous run and the waker wrote. Only kScheduled tasks are in queues (rule 1).
  std::uint32_t expected = kScheduled;
  unsigned spins = 0;
  while (!state_.compare_exchange_weak(expected, kRunning, std::memory_order_acq_rel, std::memory_order_acquire)) {
    if (expected & kInspecting) {
      // Rule 4: an inspector holds the task for a few microseconds; if it was preempted meanwhile,
      // give it the CPU rather than spin through its time slice.
      if (++spins < 64) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
      expected = kScheduled;
    } else if (expected != kScheduled) {
      return false;
    }
  }
  // Watchdog stamps (RuntimeCore::RunSlot). relaxed task store: the monitor only compares it; the
  // release on `runs` publishes it with the new count (pairs with the watchdog's acquire).
  RuntimeCore::RunSlot& slot = slot_of(core_);
  slot.task.store(this, std::memory_order_relaxed);
  slot.runs.store(slot.runs.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  last_run_epoch = core_->watch_epoch();
  return true;
}

bool TaskHeader::try_begin_inspection() noexcept {
  std::uint32_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if (s & (kRunning | kComplete | kInspecting)) return false;
    // acq_rel: acquire pairs with end_run()'s release, so the inspector sees the frames and fields
    // the last run left (rule 4).
    if (state_.compare_exchange_weak(s, s | kInspecting, std::memory_order_acq_rel, std::memory_order_acquire)) {
      return true;
    }
  }
}

void TaskHeader::end_inspection() noexcept {
  // release: pairs with begin_run()'s acquire; the inspector wrote nothing the task reads, but the
  // next run must not start before the inspector's last read of the frames.
  state_.fetch_and(~static_cast<std::uint32_t>(kInspecting), std::memory_order_acq_rel);
}

bool TaskHeader::end_run() noexcept {
  leave_slot(core_, this);
  std::uint32_t expected = kRunning;
  // release: the next worker to run this task (after a wake) sees everything this run wrote.
  if (state_.compare_exchange_strong(expected, kIdle, std::memory_order_acq_rel, std::memory_order_acquire)) {
    return false;
  }
  // kRunning|kNotified: woken while it was suspending; it goes back to a queue.
  state_.store(kScheduled, std::memory_order_release);
  return true;
}

std::uint32_t TaskHeader::complete() noexcept {
  leave_slot(core_, this);
  // release: an inspector or the watchdog that sees kComplete leaves the task alone.
  state_.store(kComplete, std::memory_order_release);
  JoinCellBase* j = std::exchange(join_, nullptr);
  return j && j->complete(this) ? 2 : 1;
}

std::string TaskHeader::failure_message() const {
  return join_ ? exception_message(join_->exception()) : std::string();
}

JoinCellBase::~JoinCellBase() {
  if (task_) task_->release();  // a failed task's header, kept for the failure log (rule 2)
}

bool JoinCellBase::complete(TaskHeader* t) noexcept {
  bool failed = t->failed();
  Waiter* joiner = nullptr;
  bool log_now = false;
  bool notify_blocked = false;
  {
    std::lock_guard<SpinLock> g(mu_);
    completed_ = true;
    joiner = std::exchange(join_waiter_, nullptr);
    notify_blocked = external_waiter_;
    log_now = detached_ && failed && !failure_logged_;
    if (log_now) failure_logged_ = true;
    if (!failed) task_ = nullptr;  // rule 2
  }
  done_.store(1, std::memory_order_release);  // release: pairs with is_complete()'s acquire
  if (notify_blocked) done_.notify_all();
  if (log_now) t->log_unawaited_failure(exception());
  if (joiner && joiner->claim_notify()) joiner->wake();
  release();  // the task's reference on the cell (rule 1)
  return !failed;
}

void JoinCellBase::wait_complete_blocking() noexcept {
  {
    std::lock_guard<SpinLock> g(mu_);
    if (completed_) return;
    external_waiter_ = true;  // rule 3: complete() notifies once done_ is set
  }
  // acquire: as is_complete().
  while (done_.load(std::memory_order_acquire) == 0) done_.wait(0, std::memory_order_acquire);
}

JoinCellBase::JoinRegistration JoinCellBase::set_join_waiter(Waiter* w, const TaskHeader* self) noexcept {
  std::lock_guard<SpinLock> g(mu_);
  if (completed_) return JoinRegistration::kCompleted;
  if (task_ == self) return JoinRegistration::kOwnTask;
  join_waiter_ = w;
  return JoinRegistration::kRegistered;
}

void JoinCellBase::clear_join_waiter(Waiter* w) noexcept {
  std::lock_guard<SpinLock> g(mu_);
  if (join_waiter_ == w) join_waiter_ = nullptr;
}

void JoinCellBase::abort() noexcept {
  TaskHeader* t = nullptr;
  {
    std::lock_guard<SpinLock> g(mu_);
    if (completed_ || !task_) return;
    t = task_;
    t->add_ref();  // rule 2: the cell's own reference keeps it alive while we take ours
  }
  t->cancel();
  t->release();
}

void JoinCellBase::detach() noexcept {
  TaskHeader* t = nullptr;
  {
    std::lock_guard<SpinLock> g(mu_);
    detached_ = true;
    // After completion task_ is set only for a failed task (rule 2).
    if (completed_ && task_ && !result_consumed_ && !failure_logged_) {
      failure_logged_ = true;
      t = task_;
    }
  }
  if (t) t->log_unawaited_failure(exception());
}

void TaskHeader::log_unawaited_failure(const std::exception_ptr& e) const noexcept {
  try {
    core_->logger().error("task {} '{}' failed and nobody awaited it: {}", id_, display_name(), exception_message(e));
  } catch (...) {
    // Logging must never take the process down; spdlog reports its own errors to stderr.
  }
}

std::string TaskHeader::display_name() const {
  if (name_) return name_.get();
  const char* file = loc_.file_name();
  if (const char* slash = std::strrchr(file, '/')) file = slash + 1;
  return std::string(file) + ":" + std::to_string(loc_.line());
}

bool arm_current(Waiter& w, std::coroutine_handle<> h) noexcept {
  TaskHeader* t = tls_current_task;
  check_no_held_locks(t);  // lock-across-await detector (HeldLock)
  t->resume_point = h;
  // Some awaiters publish the waiter (with its task set) before arming; writing the same value
  // again would still race with a notifier reading it.
  if (w.task != t) w.task = t;
  if (!t->scope->arm(&w)) return false;
  w.armed_scope = t->scope;
  return true;
}

bool disarm(Waiter& w) noexcept {
  if (CancelState* s = w.armed_scope) {
    s->disarm(&w);
    w.armed_scope = nullptr;
  }
  return w.state() == Waiter::kNotified;
}

void throw_if_cancelled() {
  TaskHeader* t = tls_current_task;
  if (t && t->scope->is_cancelled()) throw Cancelled();
}

bool consume_budget() noexcept {
  TaskHeader* t = tls_current_task;
  if (!t) return true;
  if (t->budget == 0) return false;
  --t->budget;
  return true;
}

void requeue_current(std::coroutine_handle<> h) noexcept {
  TaskHeader* t = tls_current_task;
  check_no_held_locks(t);
  t->resume_point = h;
  t->wake(ScheduleHint::kYield);  // kRunning -> kRunning|kNotified: requeued at the back
}

}  // namespace tether::detail

namespace tether {

bool YieldAwaiter::await_suspend(std::coroutine_handle<> h) {
  if (!detail::current_task()) throw Error("yield_now() awaited outside a tether task");
  detail::requeue_current(h);
  return true;
}

void YieldAwaiter::await_resume() const { detail::throw_if_cancelled(); }

namespace this_task {

std::uint64_t id() noexcept {
  detail::TaskHeader* t = detail::current_task();
  return t ? t->id() : 0;
}
std::string name() {
  detail::TaskHeader* t = detail::current_task();
  return t ? t->display_name() : std::string();
}
bool is_cancelled() noexcept {
  detail::TaskHeader* t = detail::current_task();
  return t && t->scope->is_cancelled();
}

}  // namespace this_task
}  // namespace tether

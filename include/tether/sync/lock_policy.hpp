// tether/sync/lock_policy.hpp
//
// The lock-across-await detector: what tether does when a task suspends while it holds a lock
// guard (Mutex::lock(), RwLock::read()/write()). The guidance's first async rule is "never hold a
// lock across an await"; `with()` makes that impossible to write, and for the guard API this
// detector catches it at run time, naming the task and the source location where the guard was
// taken. Suspending to acquire a second lock while holding one counts too (a deadlock risk).
//
//   LockAcrossAwaitPolicy            kAbort | kLog | kIgnore
//   set_lock_across_await_policy()   change it for the whole process
//   lock_across_await_policy()       the current policy
//
// Default: kAbort in builds without NDEBUG (debug builds and tests), kLog in release builds. The
// report is logged at error level through the runtime's logger; kAbort also prints it to stderr
// and calls std::abort().
//
// When to use something else: nothing to choose; prefer `with()` so the detector never fires.
// Thread safety: thread-safe (one atomic).
// Example: examples/sync/bank_counter.cpp; the detector itself: tests/sync/lock_policy_test.cpp
#pragma once

#include <source_location>

#include "tether/core/detail/task_header.hpp"

namespace tether::sync {

enum class LockAcrossAwaitPolicy {
  kAbort,   // log the report, print it to stderr, std::abort()
  kLog,     // log the report at error level (once per guard) and carry on
  kIgnore,  // do nothing
};

void set_lock_across_await_policy(LockAcrossAwaitPolicy p) noexcept;
LockAcrossAwaitPolicy lock_across_await_policy() noexcept;

}  // namespace tether::sync

namespace tether::detail {

// Internal; not part of the public API. The record a guard embeds while it holds its lock: linked
// into the owning task's TaskHeader::held_locks list (task_header.hpp), which the core checks at
// every suspension. Guards are confined to the task that took them, so the list needs no lock.
class HeldLockRecord : public HeldLock {
 public:
  HeldLockRecord() noexcept = default;
  HeldLockRecord(const HeldLockRecord&) = delete;
  HeldLockRecord& operator=(const HeldLockRecord&) = delete;

  // Links into the current task's list (no-op outside a task).
  void link(const char* what, const std::source_location& loc) noexcept {
    kind = what;
    where = loc;
    report = &HeldLockRecord::report_suspension;
    reported = false;
    owner_ = current_task();
    if (!owner_) return;
    prev = owner_->held_locks;
    next = nullptr;
    if (prev) prev->next = this;
    owner_->held_locks = this;
  }
  // Takes `other`'s place in its task's list (a guard was moved).
  void replace(HeldLockRecord& other) noexcept {
    kind = other.kind;
    where = other.where;
    report = other.report;
    reported = other.reported;
    owner_ = other.owner_;
    prev = other.prev;
    next = other.next;
    if (owner_) {
      if (prev) prev->next = this;
      if (next) {
        next->prev = this;
      } else {
        owner_->held_locks = this;
      }
    }
    other.owner_ = nullptr;
    other.prev = other.next = nullptr;
  }
  void unlink() noexcept {
    if (!owner_) return;
    if (prev) prev->next = next;
    if (next) {
      next->prev = prev;
    } else {
      owner_->held_locks = prev;
    }
    prev = next = nullptr;
    owner_ = nullptr;
  }

  bool reported = false;  // kLog reports each guard once

 private:
  static void report_suspension(TaskHeader* task, const HeldLock* innermost) noexcept;
  TaskHeader* owner_ = nullptr;
};

}  // namespace tether::detail

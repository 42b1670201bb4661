// Internal; not part of the public API.
//
// JoinCell: what a JoinHandle holds on a spawned task. It is the join side of the task, kept apart
// from the TaskHeader so that a task that finished well frees its header (the scheduler's part:
// ~200 bytes) at once, and only the result and the join state (48 bytes plus the result) wait for
// the handle. A program that spawns a million tasks and joins them later then holds a million small
// cells rather than a million headers.
//
// Protocol (numbers are referred to in the code):
//  1. References: one for the task (dropped by complete()) and one for the handle (dropped by
//     JoinHandle's reset). The cell is freed by whichever goes last.
//  2. `task_` points to the header, with a reference on it, until completion. complete() clears it
//     under `mu_`, and the completing worker drops that reference afterwards (with its own), so a
//     caller that finds `task_` set under `mu_` may take its own reference (abort()). A task that
//     failed keeps `task_` (and the reference) until the cell is freed: the failure log of a handle
//     detached later names the task.
//  3. Completion under `mu_`: set `completed_`, take the join waiter, read `external_waiter_`
//     (which block_on() sets under `mu_` unless it finds `completed_`). Then, outside the lock,
//     store `done_` (release), notify a blocked block_on() caller, log an unobserved failure, wake
//     the joiner. A joiner that sees `done_` (acquire) sees the stored result; a joiner woken by
//     rule 3 finds its waiter already taken (no need to clear it).
//  4. The result is written only by the thread completing the task, before rule 3; it is read only
//     by the handle's owner after it saw `done_`, was woken by rule 3, or (block_on) found
//     `completed_` under `mu_`.
#pragma once

#include <cstdint>
#include <exception>

#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/detail/task_header.hpp"
#include "tether/core/task.hpp"

namespace tether::detail {

class JoinCellBase {
 public:
  JoinCellBase(TaskHeader* task, std::uint64_t id) noexcept : task_(task), id_(id) {}
  JoinCellBase(const JoinCellBase&) = delete;
  JoinCellBase& operator=(const JoinCellBase&) = delete;

  // Handle side.
  // acquire: pairs with rule 3's store, so the result is visible.
  bool is_complete() const noexcept { return done_.load(std::memory_order_acquire) != 0; }
  // block_on(): blocks the calling (non-worker) thread until the task completes.
  void wait_complete_blocking() noexcept;
  enum class JoinRegistration : std::uint8_t { kRegistered, kCompleted, kOwnTask };
  // Registers the joiner `w` of task `self`; kCompleted if the task already finished (no need to
  // wait), kOwnTask if `self` is the task itself (it would wait forever).
  JoinRegistration set_join_waiter(Waiter* w, const TaskHeader* self) noexcept;
  void clear_join_waiter(Waiter* w) noexcept;
  // Cancels the task, if it is still running (rule 2). Callable from any thread.
  void abort() noexcept;
  // The handle goes away without consuming the result: a failure nobody will see is logged now (or
  // at completion).
  void detach() noexcept;
  void mark_result_consumed() noexcept { result_consumed_ = true; }
  // Owner only: the result was taken (or will be observed by its owner: JoinSet marks it at spawn).
  bool result_consumed() const noexcept { return result_consumed_; }
  std::uint64_t id() const noexcept { return id_; }

  // Task side. Rule 3; drops the task's reference on this cell (rule 1). Returns true if the cell
  // let go of its reference on `t` (the task did not fail), which the caller must then drop.
  [[nodiscard]] bool complete(TaskHeader* t) noexcept;

  void release() noexcept {
    // acq_rel: the last release sees every holder's writes before freeing (rule 1).
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy_self();
  }

  // The stored exception (null for a value). REQUIRES: as the result (rule 4).
  virtual const std::exception_ptr& exception() const noexcept = 0;

 protected:
  virtual ~JoinCellBase();
  virtual void destroy_self() noexcept = 0;

 private:
  SpinLock mu_;
  // Guarded by mu_ (beside the lock, in what would be padding)
  bool completed_ = false;
  bool detached_ = false;
  bool failure_logged_ = false;
  // Access: only by the handle's owner.
  bool result_consumed_ = false;
  bool external_waiter_ = false;   // guarded by mu_: a thread blocks in wait_complete_blocking()
  Atomic<std::uint32_t> done_{0};  // rule 3
  Atomic<std::uint32_t> refs_{2};  // rule 1
  TaskHeader* task_;               // guarded by mu_ (rule 2)
  Waiter* join_waiter_ = nullptr;  // guarded by mu_
  const std::uint64_t id_;
};

template <class T>
class JoinCell final : public JoinCellBase {
 public:
  using JoinCellBase::JoinCellBase;

  static void* operator new(std::size_t size) { return frame_alloc(size); }
  static void operator delete(void* p, std::size_t size) noexcept { frame_free(p, size); }

  Result<T>& result() noexcept { return result_; }
  const std::exception_ptr& exception() const noexcept override { return result_.exception(); }

 protected:
  void destroy_self() noexcept override { delete this; }

 private:
  ~JoinCell() override = default;

  Result<T> result_;
};

}  // namespace tether::detail

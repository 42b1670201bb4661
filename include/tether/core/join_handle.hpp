// tether/core/join_handle.hpp
//
// JoinHandle<T>: the owner's handle on a spawned task. `co_await handle` gives the task's value or
// rethrows its exception; abort() cancels it; dropping the handle (or detach()) lets the task run on,
// and a failure nobody observes is logged at error level with the task's name and id.
//
//   JoinHandle<T>   returned by spawn(); move-only
//
// When to use something else: to wait for many tasks in completion order use JoinSet, to keep a
// group of tasks bounded and cancellable together use TaskTracker or a scope (tether/task/).
//
// Thread safety: thread-compatible: one owner at a time; abort() and is_finished() may be called
//   from any thread while the owner awaits.
// Lifetime: the handle keeps the task's result alive, not the task: the task runs whether or not the
//   handle exists.
// Example: examples/core/hello.cpp
#pragma once

#include <coroutine>
#include <exception>
#include <string>
#include <utility>

#include "tether/core/detail/join_cell.hpp"
#include "tether/core/error.hpp"
#include "tether/core/shield.hpp"
#include "tether/core/task.hpp"

namespace tether {

namespace detail {

// The spawned task: the header, typed, so that it can move its root frame's result into its join
// cell. Allocated from the frame allocator.
template <class T>
class TaskCell final : public TaskHeader {
 public:
  using Handle = typename Task<T>::Handle;

  TaskCell(RuntimeCore* core, CancelState* parent, std::uint64_t id, std::source_location loc, std::string_view name,
           Handle frame)
      : TaskHeader(core, parent, id, loc, name) {
    resume_point = frame;
    root_frame = frame.address();
  }

  static void* operator new(std::size_t size) { return frame_alloc(size); }
  static void operator delete(void* p, std::size_t size) noexcept { frame_free(p, size); }

  PromiseBase* root_promise() const noexcept override { return root_frame ? &root().promise() : nullptr; }

  void take_result_and_destroy_frame() noexcept override {
    Result<T>& frame_result = root().promise().result();
    outcome_ = classify(frame_result);
    if (join_) {
      join().result().move_from(frame_result);
    } else if (outcome_ == Outcome::kFailed) {
      log_unawaited_failure(frame_result.exception());  // spawn_detached(): nobody will read it
    }
    // SAFETY: the frame is suspended at its final suspend point and nothing else refers to it.
    destroy_root();
  }
  void abandon() noexcept override {
    // SAFETY: called for a task that never started, or at teardown with every worker stopped:
    // nothing resumes the frame again.
    destroy_root();
    outcome_ = Outcome::kCancelled;
    if (join_) join().result().set_exception(std::make_exception_ptr(Cancelled()));
  }

 protected:
  void destroy_self() noexcept override { delete this; }

 private:
  ~TaskCell() override { destroy_root(); }
  static Outcome classify(const Result<T>& result) noexcept {
    if (!result.has_exception()) return Outcome::kValue;
    try {
      std::rethrow_exception(result.exception());
    } catch (const Cancelled&) {
      return Outcome::kCancelled;
    } catch (...) {
      return Outcome::kFailed;
    }
  }
  // REQUIRES: before complete() (the join cell is the task's until then).
  JoinCell<T>& join() noexcept { return *static_cast<JoinCell<T>*>(join_); }

  // The root frame, typed; null once destroyed. Kept only as root_frame (the header's), so the
  // cell carries no second copy of the pointer.
  Handle root() const noexcept { return Handle::from_address(root_frame); }
  // Destroys the root frame if it is still there. REQUIRES: nothing resumes it again.
  void destroy_root() noexcept {
    if (!root_frame) return;
    root().destroy();
    root_frame = nullptr;
  }
};

}  // namespace detail

template <class T>
class [[nodiscard]] JoinHandle {
 public:
  JoinHandle() noexcept = default;
  explicit JoinHandle(detail::JoinCell<T>* cell) noexcept : cell_(cell) {}
  JoinHandle(JoinHandle&& o) noexcept : cell_(std::exchange(o.cell_, nullptr)) {}
  JoinHandle& operator=(JoinHandle&& o) noexcept {
    if (this != &o) {
      reset();
      cell_ = std::exchange(o.cell_, nullptr);
    }
    return *this;
  }
  JoinHandle(const JoinHandle&) = delete;
  JoinHandle& operator=(const JoinHandle&) = delete;
  ~JoinHandle() { reset(); }

  // Cancels the task: its current or next suspension throws Cancelled; a task that has not started
  // never runs. Awaiting the handle then throws Cancelled (unless the task finished first).
  void abort() const noexcept {
    if (cell_) cell_->abort();
  }
  // Lets the task run on unobserved; its failure, if any, is logged at error level.
  void detach() && noexcept { reset(); }

  // JoinHandle::abort_and_wait()
  //
  // Cancels the task and waits until it has ended: for code about to free what the task uses (a
  // listener, a buffer in the caller's frame). Returns once the task ended, cancelled or having
  // finished first | Throws: the task's exception, other than Cancelled.
  // Cancellation: not interrupted by the caller's cancellation (the wait is shielded), since
  // returning early would free what the task still uses; the wait is bounded by the aborted task
  // reaching its next suspension point. The caller's cancellation is seen again after it.
  Task<void> abort_and_wait() {
    abort();
    auto shielded = detail::shield_current_task("JoinHandle::abort_and_wait()");
    try {
      co_await *this;
    } catch (const Cancelled&) {
      // The expected end of an aborted task; the caller's own cancellation cannot reach here.
    }
  }

  bool is_finished() const noexcept { return cell_ && cell_->is_complete(); }
  std::uint64_t id() const noexcept { return cell_ ? cell_->id() : 0; }
  bool valid() const noexcept { return cell_ != nullptr; }

  // JoinHandle::operator co_await()
  //
  // Waits for the task to finish. Returns its value | Throws: the task's exception; Cancelled if
  // the task was aborted before finishing, or if the awaiting task is cancelled.
  // Cancellation: Cancel-safe: nothing was consumed; the handle can be awaited again.
  // Allocation: never allocates.
  class Awaiter {
   public:
    explicit Awaiter(detail::JoinCell<T>* cell) noexcept : cell_(cell) {}
    Awaiter(const Awaiter&) = delete;
    Awaiter& operator=(const Awaiter&) = delete;
    ~Awaiter() {
      if (registered_) cell_->clear_join_waiter(&waiter_);
      detail::disarm(waiter_);
    }

    bool await_ready() const {
      if (!cell_) throw Error("awaited an empty JoinHandle");
      return cell_->is_complete() && detail::may_consume();
    }
    bool await_suspend(std::coroutine_handle<> h) {
      detail::TaskHeader* self = detail::current_task();
      using Registration = detail::JoinCellBase::JoinRegistration;
      waiter_.task = self;  // before the waiter is published
      self->resume_point = h;
      Registration reg = cell_->set_join_waiter(&waiter_, self);
      if (reg == Registration::kOwnTask) throw Error("a task awaited its own JoinHandle");
      self->waiting_on = "join";
      if (reg == Registration::kCompleted) {
        // Finished meanwhile: take the result now, unless this is a select branch that lost; then
        // wait for the cancellation that is on its way (waiter.hpp rule 4).
        if (detail::may_consume()) return false;
        if (!detail::arm_current(waiter_, h)) waiter_.claim_cancel();
        return waiter_.state() != detail::Waiter::kCancelled;
      }
      registered_ = true;
      if (detail::arm_current(waiter_, h)) return true;
      // Already cancelled. Take the registration back unless the completion claimed it first, in
      // which case its wake is on the way and we must suspend to receive it (waiter.hpp rule 1).
      if (waiter_.claim_cancel()) {
        cell_->clear_join_waiter(&waiter_);
        registered_ = false;
        return false;
      }
      return true;
    }
    T await_resume() {
      bool notified = detail::disarm(waiter_);
      if (detail::TaskHeader* self = detail::current_task()) self->waiting_on = nullptr;
      // Woken by the completion, which took the waiter already (join_cell.hpp rule 3).
      if (registered_ && !notified) cell_->clear_join_waiter(&waiter_);
      registered_ = false;
      if (waiter_.state() == detail::Waiter::kCancelled) throw Cancelled();
      cell_->mark_result_consumed();
      return cell_->result().take();
    }

   private:
    detail::JoinCell<T>* cell_;
    detail::Waiter waiter_;
    bool registered_ = false;
  };

  Awaiter operator co_await() noexcept { return Awaiter(cell_); }

  // For runtime internals (block_on).
  detail::JoinCell<T>* cell() const noexcept { return cell_; }

 private:
  void reset() noexcept {
    if (cell_) {
      // A finished task whose result was taken needs nothing from detach() (no failure to log).
      if (!cell_->result_consumed() || !cell_->is_complete()) cell_->detach();
      cell_->release();
      cell_ = nullptr;
    }
  }
  detail::JoinCell<T>* cell_ = nullptr;
};

}  // namespace tether

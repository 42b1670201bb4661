// tether/core/shield.hpp
//
// shield(op): runs an awaitable so that cancelling the calling task does not interrupt it. For
// cleanup that must finish: flushing a log, sending a goodbye, releasing a remote lease. A shielded
// section must still be bounded: give it its own deadline, shield(timeout(2s, flush())), so that a
// shutdown cannot hang on it. Once the shielded operation returns, the task's cancellation (if any)
// is seen again at its next suspension point.
//
// When to use something else: ScopeExit for cleanup that needs no await.
//
// Thread safety: n/a (acts on the calling task).
// Cancellation: the shielded operation itself is not cancelled by the caller's token; tasks it
//   spawns descend from the shield, not from the caller.
// Example: examples/core/cancellation.cpp
#pragma once

#include <utility>

#include "tether/core/concepts.hpp"
#include "tether/core/detail/cancel_state.hpp"
#include "tether/core/detail/frame_allocator.hpp"
#include "tether/core/detail/task_header.hpp"
#include "tether/core/error.hpp"
#include "tether/core/task.hpp"

namespace tether {

namespace detail {

// A scope node owned by one task for the duration of a timeout or shield.
class ScopeState : public CancelState {
 public:
  ScopeState(CancelState* parent, bool shielded) : CancelState(parent, shielded) {}
  static void* operator new(std::size_t size) { return frame_alloc(size); }
  static void operator delete(void* p, std::size_t size) noexcept { frame_free(p, size); }

 protected:
  void destroy_self() noexcept override { delete this; }
};

// Makes `scope` the task's innermost scope until destroyed; then restores the previous one and
// drops the guard's reference on `scope`.
class ScopeSwap {
 public:
  ScopeSwap(TaskHeader* task, CancelState* scope) noexcept : task_(task), prev_(task->scope), scope_(scope) {
    task_->scope = scope_;
  }
  ScopeSwap(const ScopeSwap&) = delete;
  ScopeSwap& operator=(const ScopeSwap&) = delete;
  ~ScopeSwap() {
    task_->scope = prev_;
    scope_->release();
  }
  CancelState* previous() const noexcept { return prev_; }

 private:
  TaskHeader* task_;
  CancelState* prev_;
  CancelState* scope_;
};

inline TaskHeader* require_task(const char* what) {
  TaskHeader* t = current_task();
  if (!t) throw Error(std::string(what) + " awaited outside a tether task");
  return t;
}

// Shields the calling task (`what` names the caller in the error outside a task) until the
// returned guard goes: shield()'s mechanism, for code that waits on something it cannot hand to
// shield() (JoinHandle::abort_and_wait() awaits its own handle).
[[nodiscard]] inline ScopeSwap shield_current_task(const char* what) {
  TaskHeader* self = require_task(what);
  return ScopeSwap(self, new ScopeState(self->scope, /*shielded=*/true));
}

}  // namespace detail

template <Awaitable A>
Task<await_result_t<A>> shield(A op) {
  auto shielded = detail::shield_current_task("shield()");
  co_return co_await std::move(op);
}

}  // namespace tether

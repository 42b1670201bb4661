// tether/core/yield.hpp
//
// yield_now(): gives the worker to other ready tasks; the task continues after them (back of the
// run queue, never the LIFO slot). Use it in long computations on a worker that cannot be moved to
// spawn_compute. Awaitables that complete without suspending already yield every 128 operations
// (the cooperative budget), so a hot loop over a channel does not starve its neighbours.
//
// Thread safety: n/a (acts on the calling task).
// Cancellation: Cancel-safe: nothing was consumed. A cancelled task throws Cancelled here.
// Allocation: never allocates.
#pragma once

#include <coroutine>

#include "tether/core/detail/task_header.hpp"

namespace tether {

class YieldAwaiter {
 public:
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h);
  void await_resume() const;
};

[[nodiscard]] inline YieldAwaiter yield_now() noexcept { return {}; }

}  // namespace tether

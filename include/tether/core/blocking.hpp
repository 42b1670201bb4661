// tether/core/blocking.hpp
//
// Threads for the work async workers must never do: spawn_blocking(fn) runs blocking code (a
// synchronous library call, file I/O without io_uring, a sleep you cannot avoid) on the bounded
// blocking pool; spawn_compute(fn) runs CPU-bound code on the compute pool (one thread per core).
// Both are awaitable and rethrow what `fn` throws.
//
//   spawn_blocking(fn)  threads on demand up to RuntimeOptions::blocking_threads, bounded queue
//   spawn_compute(fn)   fixed threads (RuntimeOptions::compute_threads), bounded queue
//
// When both the pool's threads and its queue are full, the awaiting task waits for room
// (backpressure), so a burst cannot grow memory without bound.
//
// When to use something else: short non-blocking work belongs on the task itself; long loops that
// can be split should yield_now() instead.
//
// Thread safety: callable from any task; `fn` runs on a pool thread, so what it captures must be
//   safe to use there (capture by value).
// Example: examples/core/blocking.cpp
#pragma once

#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>

#include "tether/core/detail/runtime_core.hpp"
#include "tether/core/detail/thread_pool.hpp"
#include "tether/core/error.hpp"
#include "tether/core/task.hpp"

namespace tether {

namespace detail {

template <class Fn, class R>
class FnJob final : public PoolJob {
 public:
  explicit FnJob(Fn fn) : fn_(std::move(fn)) {}
  void run() noexcept override {
    try {
      if constexpr (std::is_void_v<R>) {
        fn_();
        result_.set_value();
      } else {
        result_.set_value(fn_());
      }
    } catch (...) {
      result_.set_exception(std::current_exception());
    }
  }
  Result<R>& result() noexcept { return result_; }

 private:
  Fn fn_;
  Result<R> result_;
};

template <class Fn, class R>
class PoolAwaiter {
 public:
  PoolAwaiter(Fn fn, bool compute) : fn_(std::move(fn)), compute_(compute) {}
  PoolAwaiter(const PoolAwaiter&) = delete;
  PoolAwaiter& operator=(const PoolAwaiter&) = delete;
  PoolAwaiter(PoolAwaiter&& o) noexcept : fn_(std::move(o.fn_)), compute_(o.compute_) {}
  ~PoolAwaiter() {
    if (job_) {  // the frame is destroyed while suspended (runtime teardown)
      disarm(job_->waiter);
      pool_->cancel(job_);
      core_->external_work_finished();
      job_->release();
    }
  }

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    TaskHeader* self = current_task();
    if (!self) throw Error("spawn_blocking/spawn_compute awaited outside a tether task");
    core_ = self->core();
    pool_ = compute_ ? &core_->compute_pool() : &core_->blocking_pool();
    job_ = new FnJob<Fn, R>(std::move(fn_));
    self->waiting_on = compute_ ? "spawn_compute" : "spawn_blocking";
    if (!arm_current(job_->waiter, h)) {  // cancelled: nothing submitted
      job_->release();
      job_ = nullptr;
      return false;
    }
    core_->external_work_started();
    pool_->submit(job_);
    return true;
  }
  R await_resume() {
    if (!job_) throw Cancelled();
    bool notified = disarm(job_->waiter);
    current_task()->waiting_on = nullptr;
    FnJob<Fn, R>* job = std::exchange(job_, nullptr);
    // Counted until now, not until the job returned, so that the virtual clock cannot jump between
    // the job's end and this task's wake-up.
    core_->external_work_finished();
    if (!notified) {
      // Cancelled: a job that has not started never will; a running one finishes on its thread and
      // its result is dropped with the last reference.
      pool_->cancel(job);
      job->release();
      throw Cancelled();
    }
    struct Release {
      PoolJob* j;
      ~Release() { j->release(); }
    } guard{job};
    return job->result().take();
  }

 private:
  Fn fn_;
  bool compute_;
  RuntimeCore* core_ = nullptr;
  ThreadPool* pool_ = nullptr;
  FnJob<Fn, R>* job_ = nullptr;
};

}  // namespace detail

// spawn_blocking()
//
// Runs `fn` on the blocking pool and waits for it. Returns what fn returns | Throws: what fn
// throws; Cancelled.
// Cancellation: Not cancel-safe: if `fn` already started it runs to completion and its result is
//   dropped; if it had not started, it never runs.
// Allocation: one job object per call.
template <class Fn, class R = std::invoke_result_t<Fn&>>
[[nodiscard]] detail::PoolAwaiter<Fn, R> spawn_blocking(Fn fn) {
  return detail::PoolAwaiter<Fn, R>(std::move(fn), false);
}

// spawn_compute()
//
// Runs CPU-bound `fn` on the compute pool and waits for it. Same results, errors, cancellation and
// allocation as spawn_blocking().
template <class Fn, class R = std::invoke_result_t<Fn&>>
[[nodiscard]] detail::PoolAwaiter<Fn, R> spawn_compute(Fn fn) {
  return detail::PoolAwaiter<Fn, R>(std::move(fn), true);
}

}  // namespace tether

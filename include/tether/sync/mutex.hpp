// tether/sync/mutex.hpp
//
// Mutex<T>: an async mutual-exclusion lock that owns the data it protects. The data is reachable
// only while the lock is held, and the primary way in, `co_await m.with(fn)`, runs a closure that
// cannot suspend, so the guidance's first async rule ("never hold a lock across an await") cannot
// be broken by accident.
//
//   Mutex<T>          the lock and its data
//   Mutex<T>::Guard   RAII access for the rare code that must lock across several statements
//   LockStats         how often acquisitions had to wait, and for how long (for metrics)
//
// Which lock should you use?
//   - Mutex<T>::with(): the default. Short critical sections on shared state.
//   - RwLock<T> (rwlock.hpp): many readers, few writers, and reads that take a while.
//   - Shared<T> (shared.hpp): read-mostly hot paths; readers never wait, writers publish copies.
//   - A channel (tether/channel/) or an actor: state that a single task should own.
//   - std::mutex: never on a worker; a waiting std::mutex blocks every task queued behind it.
//
// Example: examples/sync/bank_counter.cpp
#pragma once

#include <chrono>
#include <concepts>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <source_location>
#include <type_traits>
#include <utility>

#include "tether/core/concepts.hpp"
#include "tether/core/detail/task_header.hpp"
#include "tether/core/error.hpp"
#include "tether/sync/detail/raw_mutex.hpp"
#include "tether/sync/lock_policy.hpp"

namespace tether::sync {

// A snapshot of a lock's contention since construction: acquisitions that had to queue behind
// another holder, and the time they spent queued (spinning or parked). Uncontended acquisitions
// are not counted, so that the fast path stays one atomic.
struct LockStats {
  std::uint64_t contended_acquisitions = 0;
  std::chrono::nanoseconds wait_time{0};
};

namespace detail {

// What a with()/read_with()/write_with() closure may be: invocable on the data, returning neither
// an awaitable (it would suspend with the lock held) nor a reference (it would escape the lock).
template <class F, class Arg>
constexpr bool check_locked_closure() {
  static_assert(std::is_invocable_v<F&, Arg>, "with(): the closure must be callable with a reference to the data");
  using R = std::invoke_result_t<F&, Arg>;
  static_assert(!Awaitable<R>,
                "with(): the closure returns an awaitable (a Task, or something co_await-able): it would "
                "suspend while the lock is held. Compute what you need under the lock, return it, and "
                "co_await after with() returns");
  static_assert(!std::is_reference_v<R>,
                "with(): the closure returns a reference, which would let the data escape the lock; return a copy");
  return true;
}

// The result (value or exception) of a closure run under a lock.
template <class R>
class ClosureResult {
 public:
  template <class F, class Arg>
  void run(F& f, Arg&& arg) noexcept {
    try {
      if constexpr (std::is_void_v<R>) {
        f(std::forward<Arg>(arg));
      } else {
        value_.emplace(f(std::forward<Arg>(arg)));
      }
    } catch (...) {
      error_ = std::current_exception();
    }
  }
  R take() {
    if (error_) std::rethrow_exception(error_);
    if constexpr (!std::is_void_v<R>) return std::move(*value_);
  }

 private:
  struct Empty {};
  std::conditional_t<std::is_void_v<R>, std::optional<Empty>, std::optional<R>> value_;
  std::exception_ptr error_;
};

}  // namespace detail

// tether::sync::Mutex<T>
//
// An async mutex that owns a T. Waiters are served first-in first-out (no starvation); a task
// that finds the lock free takes it with one atomic operation, and a task that must wait is
// handed the lock directly by the releaser (it never wakes just to find the lock taken again).
// A contended with() closure may be run by the task that holds the lock, on the waiter's behalf
// (combining): the waiter then wakes up with the result. So a with() closure may run on another
// task's thread; it must not depend on thread identity (thread_locals, this_task).
//
// Thread safety: thread-safe.
// Memory ordering: everything a task did under the lock is visible to the next task that takes it.
// Lifetime: must outlive every awaiter and guard; destroying it while locked is undefined.
// Example: examples/sync/bank_counter.cpp
template <class T>
class Mutex {
 public:
  class Guard;

  // Constructs the data in place.
  template <class... Args>
  requires std::is_constructible_v<T, Args...>
  explicit Mutex(Args&&... args) : data_(std::forward<Args>(args)...) {}
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  // Mutex::with()
  //
  // Waits for the lock, calls fn(T&) under it, releases it, and returns fn's result (or rethrows
  // its exception, after releasing). fn cannot suspend: a closure returning an awaitable or a
  // reference does not compile.
  // Throws: tether::Cancelled (fn did not run); whatever fn throws.
  // Cancellation: Cancel-safe, but loses its place in the wait queue. (A cancelled call did not
  //   run fn; once fn has run, the call returns its result even if the task is cancelled.)
  // Allocation: never allocates.
  template <class F>
  [[nodiscard]] auto with(F fn) {
    static_assert(detail::check_locked_closure<F, T&>());
    return WithAwaiter<F>(*this, std::move(fn));
  }

  // Mutex::lock()
  //
  // Waits for the lock and returns a Guard that releases it when destroyed. A task that
  // suspends (at any co_await that waits) while holding the guard is reported by the
  // lock-across-await detector (lock_policy.hpp) with this call's source location.
  // Throws: tether::Cancelled.
  // Cancellation: Cancel-safe, but loses its place in the wait queue.
  // Allocation: never allocates.
  [[nodiscard]] auto lock(std::source_location loc = std::source_location::current()) noexcept {
    return LockAwaiter(*this, loc);
  }

  // Mutex::try_lock()
  //
  // Takes the lock if it is free and nobody waits for it; never suspends.
  std::optional<Guard> try_lock(std::source_location loc = std::source_location::current()) noexcept {
    if (!raw_.try_lock()) return std::nullopt;
    return std::optional<Guard>(std::in_place, this, loc);
  }

  bool is_locked() const noexcept { return raw_.is_locked(); }

  // Contention so far (see LockStats). Thread-safe; a relaxed snapshot.
  LockStats stats() const noexcept {
    return LockStats{raw_.contended(), std::chrono::nanoseconds(static_cast<std::int64_t>(raw_.wait_ns()))};
  }

  // Access without locking, for when nothing else can reach the mutex (setup, teardown).
  T& get_unsynchronized() noexcept { return data_; }

  // Mutex::Guard
  //
  // Access to the data while the lock is held; releases it when destroyed or on unlock().
  // Thread safety: confined to the task that took it (it is registered with that task for the
  //   lock-across-await detector); move it only within that task.
  class Guard {
   public:
    Guard(Mutex* m, const std::source_location& loc) noexcept : m_(m) { rec_.link("mutex", loc); }
    Guard(Guard&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {
      if (m_) rec_.replace(o.rec_);
    }
    Guard& operator=(Guard&&) = delete;
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() { unlock(); }

    T& operator*() const noexcept { return m_->data_; }
    T* operator->() const noexcept { return &m_->data_; }
    bool owns_lock() const noexcept { return m_ != nullptr; }
    // Releases early; the guard is empty afterwards.
    void unlock() noexcept {
      if (!m_) return;
      rec_.unlink();
      std::exchange(m_, nullptr)->raw_.unlock();
    }

   private:
    Mutex* m_;
    tether::detail::HeldLockRecord rec_;
  };

 private:
  // Shared by with() and lock(): fast path, spin, queue.
  template <class Derived>
  class AwaiterBase {
   protected:
    explicit AwaiterBase(Mutex& m) noexcept : m_(m) {}
    ~AwaiterBase() {
      if (req_.linked) m_.raw_.remove(&req_);
      tether::detail::disarm(req_);
    }
    // Takes the lock without waiting, if it can (select: only if this branch may consume).
    // A cancelled task takes the slow path, which throws Cancelled (so a loop of with() calls that
    // never has to wait still notices its cancellation).
    bool acquire_now() noexcept {
      if (cancelled()) return false;
      if (!m_.raw_.try_lock() && !m_.raw_.try_lock_spin()) return false;
      if (!tether::detail::may_consume()) {
        m_.raw_.unlock();
        return false;
      }
      return true;
    }
    // Returns true to suspend; false with acquired_ set, or with the waiter cancelled.
    bool suspend(std::coroutine_handle<> h) {
      tether::detail::TaskHeader* self = tether::detail::current_task();
      if (!self) throw Error("a tether::sync lock had to wait outside a tether task");
      if (cancelled()) {
        req_.claim_cancel();  // not published anywhere: await_resume throws Cancelled
        return false;
      }
      if (!tether::detail::may_consume()) {
        // A select branch that lost: wait for the cancellation on its way (waiter.hpp rule 4).
        if (!tether::detail::arm_current(req_, h)) req_.claim_cancel();
        return req_.state() != tether::detail::Waiter::kCancelled;
      }
      if (m_.raw_.lock_or_enqueue(&req_) == tether::detail::RawMutex::Enqueued::kAcquired) {
        acquired_ = true;
        return false;
      }
      self->waiting_on = "mutex";
      queued_at_ = std::chrono::steady_clock::now();
      switch (m_.raw_.wait_queued(&req_, h)) {
        case tether::detail::RawMutex::Queued::kDone:
          record_wait();
          // Served while spinning: the holder ran our closure, or handed us the lock.
          if (req_.ran) {
            combined_ = true;
          } else {
            acquired_ = true;
          }
          break;
        case tether::detail::RawMutex::Queued::kSuspend:
          return true;
        case tether::detail::RawMutex::Queued::kCancelled:
          break;
      }
      self->waiting_on = nullptr;
      return false;
    }
    // After a suspension: true if we own the lock, false if a holder ran our closure; throws
    // Cancelled if we were cancelled.
    bool resumed_owning() {
      tether::detail::disarm(req_);
      if (tether::detail::TaskHeader* self = tether::detail::current_task()) self->waiting_on = nullptr;
      if (req_.state() != tether::detail::Waiter::kNotified) {
        m_.raw_.remove(&req_);
        throw Cancelled();
      }
      record_wait();
      if (req_.ran) return false;
      m_.raw_.clear_handoff();  // we own the lock and run now
      return true;
    }

    void record_wait() noexcept {
      auto waited = std::chrono::steady_clock::now() - queued_at_;
      m_.raw_.record_wait(
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(waited).count()));
    }

    static bool cancelled() noexcept {
      tether::detail::TaskHeader* t = tether::detail::current_task();
      return t && t->scope->is_cancelled();
    }

    Mutex& m_;
    tether::detail::LockRequest req_;
    std::chrono::steady_clock::time_point queued_at_{};  // when the request was queued (rule 2)
    bool acquired_ = false;                              // we own the lock, without having suspended
    bool combined_ = false;                              // a holder ran our closure while we spun
  };

  template <class F>
  class WithAwaiter : AwaiterBase<WithAwaiter<F>> {
    using Base = AwaiterBase<WithAwaiter<F>>;
    using R = std::invoke_result_t<F&, T&>;

   public:
    WithAwaiter(Mutex& m, F fn) : Base(m), fn_(std::move(fn)) {
      this->req_.run = &WithAwaiter::run_for_us;
      this->req_.ctx = this;
    }
    // Movable until awaited (so it can be passed to timeout() or select()).
    WithAwaiter(WithAwaiter&& o) noexcept(std::is_nothrow_move_constructible_v<F>)
        : WithAwaiter(o.m_, std::move(o.fn_)) {}
    WithAwaiter(const WithAwaiter&) = delete;
    WithAwaiter& operator=(const WithAwaiter&) = delete;

    bool await_ready() noexcept {
      if (!this->acquire_now()) return false;
      run_and_unlock();
      // Budget spent: await_suspend yields (with no lock held) before returning the result.
      return tether::detail::consume_budget();
    }
    bool await_suspend(std::coroutine_handle<> h) {
      if (done_) {
        tether::detail::TaskHeader* self = tether::detail::current_task();
        tether::detail::check_no_held_locks(self);
        self->resume_point = h;
        self->wake(tether::detail::ScheduleHint::kYield);
        return true;
      }
      if (this->suspend(h)) return true;
      if (this->acquired_) run_and_unlock();
      if (this->combined_) done_ = true;
      return false;
    }
    R await_resume() {
      if (!done_ && this->resumed_owning()) run_and_unlock();
      return result_.take();
    }

   private:
    void run_and_unlock() noexcept {
      result_.run(fn_, this->m_.data_);
      done_ = true;
      this->m_.raw_.unlock();
    }
    static void run_for_us(tether::detail::LockRequest* r) noexcept {
      // SAFETY: r is the req_ of a WithAwaiter whose task is suspended until we wake it, so the
      // awaiter (and its closure) is alive; we hold the lock (raw_mutex.hpp rule 3a).
      auto* self = static_cast<WithAwaiter*>(r->ctx);
      self->result_.run(self->fn_, self->m_.data_);
    }

    F fn_;
    detail::ClosureResult<R> result_;
    bool done_ = false;
    friend Base;
  };

  class LockAwaiter : AwaiterBase<LockAwaiter> {
    using Base = AwaiterBase<LockAwaiter>;

   public:
    LockAwaiter(Mutex& m, const std::source_location& loc) noexcept : Base(m), loc_(loc) {}
    // Movable until awaited (so it can be passed to timeout() or select()).
    LockAwaiter(LockAwaiter&& o) noexcept : Base(o.m_), loc_(o.loc_) {}
    LockAwaiter(const LockAwaiter&) = delete;
    LockAwaiter& operator=(const LockAwaiter&) = delete;

    bool await_ready() noexcept {
      this->acquired_ = this->acquire_now();
      return this->acquired_;
    }
    bool await_suspend(std::coroutine_handle<> h) { return this->suspend(h); }
    Guard await_resume() {
      if (!this->acquired_) this->resumed_owning();
      return Guard(&this->m_, loc_);
    }

   private:
    std::source_location loc_;
    friend Base;
  };

  tether::detail::RawMutex raw_;
  T data_;  // Guarded by raw_
};

}  // namespace tether::sync

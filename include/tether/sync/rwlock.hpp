// tether/sync/rwlock.hpp
//
// RwLock<T>: an async reader-writer lock that owns its data: many readers at once, or one writer.
// Same shape as Mutex<T>: the primary API runs a closure that cannot suspend (`read_with`,
// `write_with`); guards exist for the rare code that needs them and are watched by the
// lock-across-await detector.
//
//   RwLock<T>              the lock and its data
//   RwLock<T>::ReadGuard   shared access (const T&)
//   RwLock<T>::WriteGuard  exclusive access (T&)
//
// Which lock should you use? Mutex<T> unless reads dominate AND take long enough for readers
// to overlap usefully; for read-mostly hot paths where readers must never wait, Shared<T>.
//
// Example: tests/sync/rwlock_test.cpp
#pragma once

#include <coroutine>
#include <optional>
#include <source_location>
#include <type_traits>
#include <utility>

#include "tether/core/detail/task_header.hpp"
#include "tether/core/error.hpp"
#include "tether/sync/detail/raw_rwlock.hpp"
#include "tether/sync/lock_policy.hpp"
#include "tether/sync/mutex.hpp"  // detail::check_locked_closure, detail::ClosureResult

namespace tether::sync {

// tether::sync::RwLock<T>
//
// Waiters are served first-in first-out: a reader that arrives while a writer waits queues behind
// it, so neither side starves; a release hands the lock straight to the head of the queue (a
// writer, or every reader up to the next writer).
//
// Thread safety: thread-safe.
// Memory ordering: everything a writer did under the lock is visible to every later holder.
// Lifetime: must outlive every awaiter and guard.
template <class T>
class RwLock {
 public:
  template <class... Args>
  requires std::is_constructible_v<T, Args...>
  explicit RwLock(Args&&... args) : data_(std::forward<Args>(args)...) {}
  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;

  // Guard for one mode. Confined to the task that took it (see Mutex::Guard).
  template <bool Write>
  class BasicGuard {
   public:
    using Ref = std::conditional_t<Write, T&, const T&>;
    using Ptr = std::conditional_t<Write, T*, const T*>;
    BasicGuard(RwLock* l, const std::source_location& loc) noexcept : l_(l) {
      rec_.link(Write ? "rwlock write" : "rwlock read", loc);
    }
    BasicGuard(BasicGuard&& o) noexcept : l_(std::exchange(o.l_, nullptr)) {
      if (l_) rec_.replace(o.rec_);
    }
    BasicGuard& operator=(BasicGuard&&) = delete;
    BasicGuard(const BasicGuard&) = delete;
    BasicGuard& operator=(const BasicGuard&) = delete;
    ~BasicGuard() { unlock(); }

    Ref operator*() const noexcept { return l_->data_; }
    Ptr operator->() const noexcept { return &l_->data_; }
    bool owns_lock() const noexcept { return l_ != nullptr; }
    void unlock() noexcept {
      if (!l_) return;
      rec_.unlink();
      RwLock* l = std::exchange(l_, nullptr);
      if constexpr (Write) {
        l->raw_.unlock_write();
      } else {
        l->raw_.unlock_read();
      }
    }

   private:
    RwLock* l_;
    tether::detail::HeldLockRecord rec_;
  };
  using ReadGuard = BasicGuard<false>;
  using WriteGuard = BasicGuard<true>;

  // RwLock::read_with() / write_with()
  //
  // Wait for shared (read_with: fn(const T&)) or exclusive (write_with: fn(T&)) access, call fn
  // under it, release, and return fn's result (or rethrow its exception, after releasing). fn
  // cannot suspend: a closure returning an awaitable or a reference does not compile.
  // Throws: tether::Cancelled (fn did not run); whatever fn throws.
  // Cancellation: Cancel-safe, but loses its place in the wait queue.
  // Allocation: never allocates.
  template <class F>
  [[nodiscard]] auto read_with(F fn) {
    static_assert(detail::check_locked_closure<F, const T&>());
    return WithAwaiter<F, false>(*this, std::move(fn));
  }
  template <class F>
  [[nodiscard]] auto write_with(F fn) {
    static_assert(detail::check_locked_closure<F, T&>());
    return WithAwaiter<F, true>(*this, std::move(fn));
  }

  // RwLock::read() / write()
  //
  // Wait for shared / exclusive access and return a guard (reported by the lock-across-await
  // detector if its task suspends while holding it).
  // Throws: tether::Cancelled.
  // Cancellation: Cancel-safe, but loses its place in the wait queue.
  // Allocation: never allocates.
  [[nodiscard]] auto read(std::source_location loc = std::source_location::current()) noexcept {
    return GuardAwaiter<false>(*this, loc);
  }
  [[nodiscard]] auto write(std::source_location loc = std::source_location::current()) noexcept {
    return GuardAwaiter<true>(*this, loc);
  }

  // Never suspend; empty if the access is not available at once (or others are queued).
  std::optional<ReadGuard> try_read(std::source_location loc = std::source_location::current()) noexcept {
    if (!raw_.try_read()) return std::nullopt;
    return std::optional<ReadGuard>(std::in_place, this, loc);
  }
  std::optional<WriteGuard> try_write(std::source_location loc = std::source_location::current()) noexcept {
    if (!raw_.try_write()) return std::nullopt;
    return std::optional<WriteGuard>(std::in_place, this, loc);
  }

  std::size_t readers() const noexcept { return raw_.readers(); }
  bool write_locked() const noexcept { return raw_.write_locked(); }
  T& get_unsynchronized() noexcept { return data_; }

 private:
  template <bool Write>
  class AwaiterBase {
   protected:
    explicit AwaiterBase(RwLock& l) noexcept : l_(l) { req_.write = Write; }
    ~AwaiterBase() {
      if (req_.linked) l_.raw_.remove(&req_);
      tether::detail::disarm(req_);
    }
    static bool cancelled() noexcept {
      tether::detail::TaskHeader* t = tether::detail::current_task();
      return t && t->scope->is_cancelled();
    }
    // A cancelled task takes the slow path, which throws Cancelled.
    bool acquire_now() noexcept {
      if (cancelled()) return false;
      if (!(Write ? l_.raw_.try_write() : l_.raw_.try_read())) return false;
      if (!tether::detail::may_consume()) {
        release();
        return false;
      }
      return true;
    }
    void release() noexcept {
      if constexpr (Write) {
        l_.raw_.unlock_write();
      } else {
        l_.raw_.unlock_read();
      }
    }
    bool suspend(std::coroutine_handle<> h) {
      tether::detail::TaskHeader* self = tether::detail::current_task();
      if (!self) throw Error("a tether::sync lock had to wait outside a tether task");
      if (cancelled()) {
        req_.claim_cancel();  // not published anywhere: await_resume throws Cancelled
        return false;
      }
      if (!tether::detail::may_consume()) {
        if (!tether::detail::arm_current(req_, h)) req_.claim_cancel();
        return req_.state() != tether::detail::Waiter::kCancelled;
      }
      self->waiting_on = Write ? "rwlock write" : "rwlock read";
      switch (l_.raw_.lock_or_enqueue(&req_, h)) {
        case tether::detail::RawRwLock::Enqueued::kAcquired:
          acquired_ = true;
          break;
        case tether::detail::RawRwLock::Enqueued::kQueued:
          return true;
        case tether::detail::RawRwLock::Enqueued::kCancelled:
          break;
      }
      self->waiting_on = nullptr;
      return false;
    }
    // After a suspension: returns if we hold the lock; throws Cancelled otherwise.
    void resumed() {
      tether::detail::disarm(req_);
      if (tether::detail::TaskHeader* self = tether::detail::current_task()) self->waiting_on = nullptr;
      if (req_.state() != tether::detail::Waiter::kNotified) {
        l_.raw_.remove(&req_);
        throw Cancelled();
      }
    }

    RwLock& l_;
    tether::detail::RwRequest req_;
    bool acquired_ = false;
  };

  template <class F, bool Write>
  class WithAwaiter : AwaiterBase<Write> {
    using Base = AwaiterBase<Write>;
    using Arg = std::conditional_t<Write, T&, const T&>;
    using R = std::invoke_result_t<F&, Arg>;

   public:
    WithAwaiter(RwLock& l, F fn) : Base(l), fn_(std::move(fn)) {}
    WithAwaiter(WithAwaiter&& o) noexcept(std::is_nothrow_move_constructible_v<F>)
        : WithAwaiter(o.l_, std::move(o.fn_)) {}
    WithAwaiter(const WithAwaiter&) = delete;
    WithAwaiter& operator=(const WithAwaiter&) = delete;

    bool await_ready() noexcept {
      if (!this->acquire_now()) return false;
      run_and_unlock();
      return tether::detail::consume_budget();  // spent: yield (holding nothing) in await_suspend
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
      return false;
    }
    R await_resume() {
      if (!done_) {
        this->resumed();
        run_and_unlock();
      }
      return result_.take();
    }

   private:
    void run_and_unlock() noexcept {
      result_.run(fn_, static_cast<Arg>(this->l_.data_));
      done_ = true;
      this->release();
    }
    F fn_;
    detail::ClosureResult<R> result_;
    bool done_ = false;
  };

  template <bool Write>
  class GuardAwaiter : AwaiterBase<Write> {
    using Base = AwaiterBase<Write>;

   public:
    GuardAwaiter(RwLock& l, const std::source_location& loc) noexcept : Base(l), loc_(loc) {}
    GuardAwaiter(GuardAwaiter&& o) noexcept : Base(o.l_), loc_(o.loc_) {}
    GuardAwaiter(const GuardAwaiter&) = delete;
    GuardAwaiter& operator=(const GuardAwaiter&) = delete;

    bool await_ready() noexcept { return this->acquired_ = this->acquire_now(); }
    bool await_suspend(std::coroutine_handle<> h) { return this->suspend(h); }
    BasicGuard<Write> await_resume() {
      if (!this->acquired_) this->resumed();
      return BasicGuard<Write>(&this->l_, loc_);
    }

   private:
    std::source_location loc_;
  };

  tether::detail::RawRwLock raw_;
  T data_;  // Guarded by raw_
};

}  // namespace tether::sync

// tether/sync/semaphore.hpp
//
// Semaphore: a counting semaphore for bounding concurrency ("at most N requests in flight", a
// connection limit, a bulkhead). Permits are RAII: an acquired Permit gives its permits back when
// destroyed.
//
//   Semaphore          the permit pool; acquire(n), try_acquire(n), release(n), close()
//   Semaphore::Permit  n permits held; returns them on destruction (or forget())
//
// Which to use: to bound concurrency, Semaphore; to protect data, Mutex<T>; to wait for a count of
// events, Latch; to signal, Notify.
//
// Example: examples/sync/bank_counter.cpp (bounds concurrent transfers)
#pragma once

#include <coroutine>
#include <cstddef>
#include <optional>
#include <utility>

#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/detail/task_header.hpp"
#include "tether/core/detail/waiter.hpp"
#include "tether/sync/error.hpp"

namespace tether::sync {

// tether::sync::Semaphore
//
// A pool of permits. acquire(n) waits until n permits are available; waiters are served strictly
// first-in first-out, so a large request at the head is not starved by small ones behind it (and
// small ones wait behind it). close() wakes every waiter with Closed, and later acquires throw
// Closed; permits already held stay valid and may be released after close.
//
// Protocol: one SpinLock guards `permits_`, `closed_` and the FIFO queue. release(n) adds the
// permits, then pops head waiters while the head's request fits: each popped waiter that accepts
// (claim_notify) is granted its permits before it is woken; a cancelled one is skipped and takes
// nothing. So a permit is never lost to a cancellation.
//
// Thread safety: thread-safe.
// Memory ordering: what a task did before releasing permits is visible to the task that acquires them.
// Lifetime: must outlive every Permit and every waiting acquire().
class Semaphore {
 public:
  class Permit;
  static constexpr std::size_t kMaxPermits = std::size_t{1} << 48;

  explicit Semaphore(std::size_t permits) noexcept : permits_(permits) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // Semaphore::acquire()
  //
  // Waits until `n` permits are free and no earlier waiter is queued, then takes them.
  // Returns: a Permit holding n. Throws: Closed, tether::Cancelled.
  // Cancellation: Cancel-safe, but loses its place in the wait queue. (No permit is taken.)
  // Allocation: never allocates.
  [[nodiscard]] auto acquire(std::size_t n = 1) noexcept { return AcquireAwaiter(*this, n); }

  // Takes `n` permits if they are free and nobody is queued; never suspends. Empty when closed.
  std::optional<Permit> try_acquire(std::size_t n = 1) noexcept;

  // Adds `n` permits (also for permits obtained by forget()), serving waiters in order.
  void release(std::size_t n = 1) noexcept;

  // Closes: every waiter and every later acquire() throws Closed; try_acquire() gives nothing.
  void close() noexcept;
  bool is_closed() const noexcept;
  std::size_t available_permits() const noexcept;

  // Semaphore::Permit
  //
  // `count()` permits of one semaphore, returned when destroyed.
  // Thread safety: thread-compatible (may be moved to, and destroyed by, another task).
  class Permit {
   public:
    Permit(Semaphore* s, std::size_t n) noexcept : s_(s), n_(n) {}
    Permit(Permit&& o) noexcept : s_(std::exchange(o.s_, nullptr)), n_(std::exchange(o.n_, 0)) {}
    Permit& operator=(Permit&& o) noexcept {
      if (this != &o) {
        reset();
        s_ = std::exchange(o.s_, nullptr);
        n_ = std::exchange(o.n_, 0);
      }
      return *this;
    }
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { reset(); }

    std::size_t count() const noexcept { return n_; }
    // Drops the permits without returning them (they are gone until release()).
    void forget() noexcept {
      s_ = nullptr;
      n_ = 0;
    }
    // Returns the permits now.
    void reset() noexcept {
      if (s_ && n_) s_->release(n_);
      s_ = nullptr;
      n_ = 0;
    }

   private:
    Semaphore* s_;
    std::size_t n_;
  };

 private:
  struct Request : tether::detail::Waiter {  // the Waiter the queue links
    std::size_t n = 0;
    bool closed = false;  // set before the wake when woken by close()
  };

  class AcquireAwaiter {
   public:
    AcquireAwaiter(Semaphore& s, std::size_t n) noexcept : s_(s) { req_.n = n; }
    AcquireAwaiter(AcquireAwaiter&& o) noexcept : s_(o.s_) { req_.n = o.req_.n; }
    AcquireAwaiter(const AcquireAwaiter&) = delete;
    AcquireAwaiter& operator=(const AcquireAwaiter&) = delete;
    ~AcquireAwaiter();

    bool await_ready();
    bool await_suspend(std::coroutine_handle<> h);
    Permit await_resume();

   private:
    Semaphore& s_;
    Request req_;
    bool granted_ = false;
  };

  // Guarded by mu_ (with the caller's lock held): grants head requests that fit.
  void grant_locked(tether::detail::Waiter** wake, std::size_t& n_wake, std::size_t cap) noexcept;

  mutable tether::detail::SpinLock mu_;
  // Guarded by mu_
  std::size_t permits_;
  bool closed_ = false;
  tether::detail::WaitList queue_;
};

}  // namespace tether::sync

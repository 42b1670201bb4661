// tether/sync/once_cell.hpp
//
// OnceCell<T>: a value initialised once, asynchronously, on first use ("connect on first request",
// "load the config once"). Concurrent callers of get_or_init() wait for the one initialisation in
// progress; if it fails (throws, or its task is cancelled), the next waiting caller runs its own
// initialiser, so a transient failure is not cached.
//
//   OnceCell<T>   get(), set(), get_or_init(init)
//
// Which to use: a value computed once at startup, a plain const; a value that changes, Shared<T>
// or a watch channel.
//
// Example: tests/sync/once_cell_test.cpp
#pragma once

#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "tether/core/concepts.hpp"
#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/detail/waiter.hpp"
#include "tether/core/task.hpp"
#include "tether/sync/detail/wait_queue.hpp"

namespace tether::sync {

// tether::sync::OnceCell<T>
//
// Protocol: `state_` goes kEmpty -> kRunning (one initialiser, chosen under mu_) -> kReady, or
// back to kEmpty when the initialiser fails; the value is constructed before the release store
// of kReady, and never changes or moves afterwards. Waiters queue FIFO; success wakes them all,
// failure wakes the first (it becomes the next initialiser).
//
// Thread safety: thread-safe.
// Memory ordering: the initialiser's writes (and the value) are visible to every caller that
//   obtains the value.
// Lifetime: the value lives as long as the cell; must outlive every get_or_init() in progress.
template <class T>
class OnceCell {
 public:
  OnceCell() noexcept = default;
  OnceCell(const OnceCell&) = delete;
  OnceCell& operator=(const OnceCell&) = delete;

  // The value, or null if not initialised yet; never waits.
  const T* get() const noexcept {
    // acquire: pairs with the release store of kReady in finish().
    return state_.load(std::memory_order_acquire) == kReady ? &*value_ : nullptr;
  }

  // Sets the value if nobody has (and no initialisation is running). Returns whether it did.
  template <class U>
  bool set(U&& v) {
    {
      std::lock_guard<tether::detail::SpinLock> g(mu_);
      if (state_.load(std::memory_order_relaxed) != kEmpty) return false;  // relaxed: under mu_
      state_.store(kRunning, std::memory_order_relaxed);
    }
    try {
      finish_ok(std::forward<U>(v));
    } catch (...) {
      finish_failed();
      throw;
    }
    return true;
  }

  // OnceCell::get_or_init()
  //
  // Returns the value, initialising it first if needed: `init()` must return an awaitable of T
  // (typically a Task<T>). Exactly one caller at a time runs its initialiser; the others wait.
  // Returns: a pointer to the value (never null). Throws: what `init` throws (the cell stays
  //   empty and the next waiter tries); tether::Cancelled.
  // Cancellation: Cancel-safe, but loses its place in the wait queue. (An initialiser cancelled
  //   while running counts as failed: the cell stays empty.)
  // Allocation: the returned Task's frame.
  template <class F>
  [[nodiscard]] Task<const T*> get_or_init(F init) {
    static_assert(Awaitable<std::invoke_result_t<F&>>,
                  "get_or_init(): init() must return an awaitable of T (a Task<T>)");
    for (;;) {
      if (const T* v = get()) co_return v;
      bool mine = false;
      {
        std::lock_guard<tether::detail::SpinLock> g(mu_);
        if (state_.load(std::memory_order_relaxed) == kEmpty) {  // relaxed: under mu_
          state_.store(kRunning, std::memory_order_relaxed);
          mine = true;
        }
      }
      if (mine) break;
      co_await Wait(*this, "once_cell");
    }
    try {
      finish_ok(co_await init());
    } catch (...) {
      finish_failed();
      throw;
    }
    co_return &*value_;
  }

  bool initialized() const noexcept { return get() != nullptr; }

  // WaitQueueAwaiter's owner interface.
  using Wait = tether::detail::WaitQueueAwaiter<OnceCell>;
  tether::detail::SpinLock& lock() noexcept { return mu_; }
  tether::detail::WaitList& waiters() noexcept { return queue_; }
  bool ready(Wait&) noexcept { return state_.load(std::memory_order_relaxed) != kRunning; }  // relaxed: under mu_
  bool ready_fast(Wait& w) noexcept { return ready(w); }
  void on_cancel(Wait&) noexcept {}

 private:
  enum : int { kEmpty, kRunning, kReady };

  template <class U>
  void finish_ok(U&& v) {
    value_.emplace(std::forward<U>(v));  // Access: only by the initialiser while kRunning
    tether::detail::WaitList woken;
    {
      std::lock_guard<tether::detail::SpinLock> g(mu_);
      state_.store(kReady, std::memory_order_release);  // release: pairs with the acquire in get()
      while (tether::detail::Waiter* w = queue_.pop_notify()) woken.push_back(w);
    }
    while (tether::detail::Waiter* w = woken.pop_front()) w->wake();
  }
  void finish_failed() noexcept {
    tether::detail::Waiter* next;
    {
      std::lock_guard<tether::detail::SpinLock> g(mu_);
      state_.store(kEmpty, std::memory_order_relaxed);  // relaxed: under mu_; nothing published
      next = queue_.pop_notify();
    }
    if (next) next->wake();
  }

  tether::detail::SpinLock mu_;
  tether::detail::Atomic<int> state_{kEmpty};  // Atomic: see protocol above; changed under mu_
  std::optional<T> value_;                     // written once while kRunning, then immutable
  // Guarded by mu_
  tether::detail::WaitList queue_;
};

}  // namespace tether::sync

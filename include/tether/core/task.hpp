// tether/core/task.hpp
//
// Task<T>: the coroutine type of tether. A lazy coroutine: calling a `Task<T>`-returning function
// runs nothing; `co_await task` starts it and yields its value or rethrows its exception, and
// spawn(task) runs it concurrently as an independent task.
//
//   Task<T>   a lazily started coroutine producing T (or void)
//
// Awaiting a Task transfers control symmetrically, so a loop awaiting millions of short tasks in
// sequence runs in constant stack. Frames come from a recycling allocator (see
// detail/frame_allocator.hpp), not a fresh malloc each time.
//
// When to use something else: to run work concurrently, spawn() it (spawn.hpp) and await the
// JoinHandle; to run blocking or CPU-heavy code, use spawn_blocking / spawn_compute (blocking.hpp).
//
// Thread safety: a Task is a move-only value owned by one task at a time; it is not thread-safe.
// Cancellation: awaiting a Task is not a suspension point by itself; cancellation is observed at the
//   tether awaitables the Task's body reaches.
// Example: examples/core/hello.cpp
#pragma once

#include <coroutine>
#include <exception>
#include <new>
#include <type_traits>
#include <utility>

#include "tether/core/detail/frame_allocator.hpp"
#include "tether/core/detail/task_header.hpp"

namespace tether {

template <class T = void>
class Task;

namespace detail {

// Symmetric transfer must be a guaranteed tail call to keep the stack constant. Clang guarantees
// it at every optimisation level; GCC 12 only when it happens to emit a sibling call (-O2 without
// sanitizers), which a header cannot detect. So with GCC, a transfer hands the next coroutine to a
// per-thread trampoline that the worker drains after each resume (see RuntimeCore::execute): the
// stack stays flat at every level, for a few nanoseconds per await.
#if defined(__clang__)
inline constexpr bool kSymmetricTransfer = true;
#else
inline constexpr bool kSymmetricTransfer = false;
#endif

// The trampoline's slot: the coroutine to resume next on this thread.
std::coroutine_handle<>& trampoline_slot() noexcept;

inline std::coroutine_handle<> transfer_to(std::coroutine_handle<> next) noexcept {
  if constexpr (kSymmetricTransfer) {
    return next;
  } else {
    trampoline_slot() = next;
    return std::noop_coroutine();
  }
}

// Resumes `h`, then whatever it handed to the trampoline, until the chain suspends for real.
inline void resume_chain(std::coroutine_handle<> h) {
  h.resume();
  if constexpr (!kSymmetricTransfer) {
    std::coroutine_handle<>& slot = trampoline_slot();
    while (slot) {
      std::coroutine_handle<> next = slot;
      slot = {};
      next.resume();
    }
  }
}

// Result<T>: a value, an exception, or nothing yet. Shared by promises and task cells.
template <class T>
class Result {
 public:
  Result() noexcept {}
  ~Result() { reset(); }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  template <class U>
  void set_value(U&& v) {
    new (&value_) T(std::forward<U>(v));
    kind_ = kValue;
  }
  void set_exception(std::exception_ptr e) noexcept {
    new (&error_) std::exception_ptr(std::move(e));
    kind_ = kError;
  }
  void move_from(Result& other) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (other.kind_ == kValue) {
      set_value(std::move(other.value_));
    } else if (other.kind_ == kError) {
      set_exception(std::move(other.error_));
    }
    other.reset();
  }
  bool has_value() const noexcept { return kind_ == kValue; }
  bool has_exception() const noexcept { return kind_ == kError; }
  const std::exception_ptr& exception() const noexcept { return error_; }
  T take() {
    if (kind_ == kError) std::rethrow_exception(error_);
    return std::move(value_);
  }

 private:
  void reset() noexcept {
    if (kind_ == kValue) value_.~T();
    if (kind_ == kError) error_.~exception_ptr();
    kind_ = kEmpty;
  }
  enum : unsigned char { kEmpty, kValue, kError } kind_ = kEmpty;
  union {
    T value_;
    std::exception_ptr error_;
  };
};

template <>
class Result<void> {
 public:
  void set_value() noexcept { kind_ = kValue; }
  void set_exception(std::exception_ptr e) noexcept {
    error_ = std::move(e);
    kind_ = kError;
  }
  void move_from(Result& other) noexcept {
    kind_ = other.kind_;
    error_ = std::move(other.error_);
    other.kind_ = kEmpty;
  }
  bool has_value() const noexcept { return kind_ == kValue; }
  bool has_exception() const noexcept { return kind_ == kError; }
  const std::exception_ptr& exception() const noexcept { return error_; }
  void take() {
    if (kind_ == kError) std::rethrow_exception(error_);
  }

 private:
  enum : unsigned char { kEmpty, kValue, kError } kind_ = kEmpty;
  std::exception_ptr error_;
};

class PromiseBase {
 public:
  static void* operator new(std::size_t size) { return frame_alloc(size); }
  static void operator delete(void* p, std::size_t size) noexcept { frame_free(p, size); }

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) noexcept {
      PromiseBase& p = h.promise();
      if (p.continuation_) return transfer_to(p.continuation_);  // back to the awaiting coroutine
      // A spawned task's root frame: the worker completes the task once resume() returns.
      if (TaskHeader* t = current_task()) t->root_done = true;
      return std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }

  void set_continuation(std::coroutine_handle<> c) noexcept { continuation_ = c; }

  // The async backtrace link (task dumps, the watchdog; tether/observe/). While this frame awaits a
  // child Task, the child's promise and frame; null otherwise. Written only by the thread running the
  // task; a dumper reads it only while it holds the task's inspection claim (task_header.hpp), so a
  // dump walks root -> leaf with no bookkeeping at suspensions, only two stores per Task await.
  void link_child(PromiseBase* child, void* child_frame) noexcept {
    child_ = child;
    child_frame_ = child_frame;
  }
  PromiseBase* awaited_child() const noexcept { return child_; }
  void* awaited_child_frame() const noexcept { return child_frame_; }

 private:
  std::coroutine_handle<> continuation_;
  PromiseBase* child_ = nullptr;
  void* child_frame_ = nullptr;
};

template <class T>
class Promise : public PromiseBase {
 public:
  Task<T> get_return_object() noexcept;
  void unhandled_exception() noexcept { result_.set_exception(std::current_exception()); }
  template <class U>
  void return_value(U&& v) {
    result_.set_value(std::forward<U>(v));
  }
  Result<T>& result() noexcept { return result_; }

 private:
  Result<T> result_;
};

template <>
class Promise<void> : public PromiseBase {
 public:
  Task<void> get_return_object() noexcept;
  void unhandled_exception() noexcept { result_.set_exception(std::current_exception()); }
  void return_void() noexcept { result_.set_value(); }
  Result<void>& result() noexcept { return result_; }

 private:
  Result<void> result_;
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;
  using value_type = T;
  using Handle = std::coroutine_handle<promise_type>;

  Task() noexcept = default;
  explicit Task(Handle h) noexcept : h_(h) {}
  Task(Task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (h_) h_.destroy();
      h_ = std::exchange(other.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    // SAFETY: a Task owns its frame until it is awaited to completion or handed to spawn(); a frame
    // suspended mid-body is destroyed with its locals (RAII cleanup runs).
    if (h_) h_.destroy();
  }

  bool valid() const noexcept { return static_cast<bool>(h_); }

  class Awaiter {
   public:
    explicit Awaiter(Handle h) noexcept : h_(h) {}
    bool await_ready() const noexcept { return false; }
    template <class CallerPromise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<CallerPromise> caller) noexcept {
      h_.promise().set_continuation(caller);
      // A tether caller records the child, so a task dump can walk from the root down to the leaf.
      if constexpr (std::is_base_of_v<detail::PromiseBase, CallerPromise>) {
        caller_ = &caller.promise();
        caller_->link_child(&h_.promise(), h_.address());
      }
      return detail::transfer_to(h_);  // start the child without growing the stack
    }
    T await_resume() {
      if (caller_) caller_->link_child(nullptr, nullptr);
      return h_.promise().result().take();
    }

   private:
    Handle h_;
    detail::PromiseBase* caller_ = nullptr;
  };

  Awaiter operator co_await() && noexcept { return Awaiter(h_); }
  Awaiter operator co_await() & noexcept { return Awaiter(h_); }

  // For spawn(): hands over the frame.
  Handle release() noexcept { return std::exchange(h_, {}); }

 private:
  Handle h_;
};

namespace detail {
template <class T>
Task<T> Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}
}  // namespace detail

}  // namespace tether

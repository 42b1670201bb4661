// tether/core/cancellation_token.hpp
//
// CancellationToken: a cooperative cancellation signal, arranged as a tree. Cancelling a token
// cancels its children (not the reverse). Every task owns one, a child of its spawner's (or of the
// scope / tracker it was spawned into), so cancelling a task cancels what it spawned; when a task's
// token fires, its current suspension point wakes and throws Cancelled.
//
//   CancellationToken          shared handle on a node of the tree
//   CancellationRegistration   RAII: a callback run once when the token is cancelled
//
// When to use something else: to stop one task, JoinHandle::abort(); to bound a wait by time,
// timeout() (tether/time/timeout.hpp), which cancels only the awaited operation.
//
// Thread safety: thread-safe: copies may be used and cancelled from any thread.
// Memory ordering: everything done before cancel() is visible to code that observes the token as
//   cancelled (is_cancelled() returning true, a callback running, cancelled() completing).
// Example: examples/core/cancellation.cpp
#pragma once

#include <coroutine>
#include <functional>
#include <utility>

#include "tether/core/detail/cancel_state.hpp"
#include "tether/core/detail/task_header.hpp"
#include "tether/core/error.hpp"

namespace tether {

class CancellationRegistration;

class CancellationToken {
 public:
  // A new root token, cancelled only by cancel().
  CancellationToken();
  // The token of the calling task's current scope. Throws Error outside a task.
  static CancellationToken current();

  CancellationToken(const CancellationToken& o) noexcept : state_(o.state_) {
    if (state_) state_->add_ref();
  }
  CancellationToken(CancellationToken&& o) noexcept : state_(std::exchange(o.state_, nullptr)) {}
  CancellationToken& operator=(CancellationToken o) noexcept {
    std::swap(state_, o.state_);
    return *this;
  }
  ~CancellationToken() {
    if (state_) state_->release();
  }

  // Cancels this token and every descendant. Idempotent.
  void cancel() const { state_->cancel(); }
  bool is_cancelled() const noexcept { return state_->is_cancelled(); }
  // A new token cancelled when this one is (or by its own cancel()).
  [[nodiscard]] CancellationToken child() const;

  // Runs `fn` once, on the cancelling thread, when the token is cancelled; at once, on this thread,
  // if it already is. The callback must not block. Destroying the registration unregisters it (and
  // waits for a run in progress on another thread to return).
  template <class Fn>
  [[nodiscard]] CancellationRegistration on_cancel(Fn&& fn) const;

  // CancellationToken::cancelled()
  //
  // Waits until the token is cancelled. Returns normally then.
  // Throws: Cancelled if the awaiting task itself is cancelled first.
  // Cancellation: Cancel-safe: nothing was consumed.
  // Allocation: never allocates.
  class CancelledAwaiter;
  [[nodiscard]] CancelledAwaiter cancelled() const noexcept;

  detail::CancelState* state() const noexcept { return state_; }
  // Adopts a reference the caller already holds.
  static CancellationToken adopt(detail::CancelState* s) noexcept { return CancellationToken(s); }

 private:
  explicit CancellationToken(detail::CancelState* s) noexcept : state_(s) {}
  detail::CancelState* state_;
};

class CancellationRegistration {
 public:
  CancellationRegistration() = default;
  CancellationRegistration(const CancellationRegistration&) = delete;
  CancellationRegistration& operator=(const CancellationRegistration&) = delete;
  CancellationRegistration(CancellationRegistration&&) = delete;
  CancellationRegistration& operator=(CancellationRegistration&&) = delete;
  ~CancellationRegistration() {
    if (state_) {
      state_->unregister_callback(&node_);
      state_->release();
    }
  }

 private:
  friend class CancellationToken;
  struct Node : detail::CancelCallbackNode {
    std::function<void()> callback;
  };
  template <class Fn>
  CancellationRegistration(detail::CancelState* s, Fn&& fn) {
    node_.callback = std::forward<Fn>(fn);
    node_.fn = [](detail::CancelCallbackNode* n) { static_cast<Node*>(n)->callback(); };
    if (s->register_callback(&node_)) {
      s->add_ref();
      state_ = s;
    } else {
      node_.callback();
    }
  }
  Node node_;
  detail::CancelState* state_ = nullptr;
};

template <class Fn>
CancellationRegistration CancellationToken::on_cancel(Fn&& fn) const {
  return CancellationRegistration(state_, std::forward<Fn>(fn));
}

class CancellationToken::CancelledAwaiter {
 public:
  explicit CancelledAwaiter(detail::CancelState* s) noexcept : state_(s) {}
  CancelledAwaiter(const CancelledAwaiter&) = delete;
  CancelledAwaiter& operator=(const CancelledAwaiter&) = delete;
  ~CancelledAwaiter() { cleanup(); }

  bool await_ready() const noexcept { return state_->is_cancelled(); }
  bool await_suspend(std::coroutine_handle<> h) {
    detail::TaskHeader* self = detail::current_task();
    if (!self) throw Error("cancelled() awaited outside a tether task");
    waiter_.task = self;
    self->waiting_on = "cancellation token";
    node_.owner = this;
    node_.fn = [](detail::CancelCallbackNode* n) {
      auto* w = &static_cast<Node*>(n)->owner->waiter_;
      if (w->claim_notify()) w->wake();
    };
    if (!state_->register_callback(&node_)) return false;  // cancelled meanwhile
    registered_ = true;
    if (detail::arm_current(waiter_, h)) return true;
    if (waiter_.claim_cancel()) {
      cleanup();
      return false;
    }
    return true;  // the token fired first: its wake is on the way
  }
  void await_resume() {
    bool by_token = detail::disarm(waiter_) || state_->is_cancelled();
    if (detail::TaskHeader* self = detail::current_task()) self->waiting_on = nullptr;
    cleanup();
    if (!by_token) throw Cancelled();
  }

 private:
  void cleanup() noexcept {
    detail::disarm(waiter_);
    if (registered_) {
      state_->unregister_callback(&node_);
      registered_ = false;
    }
  }
  struct Node : detail::CancelCallbackNode {
    CancelledAwaiter* owner = nullptr;
  };
  detail::CancelState* state_;
  detail::Waiter waiter_;
  Node node_;
  bool registered_ = false;
};

inline CancellationToken::CancelledAwaiter CancellationToken::cancelled() const noexcept {
  return CancelledAwaiter(state_);
}

}  // namespace tether

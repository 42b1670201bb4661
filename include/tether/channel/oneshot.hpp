// tether/channel/oneshot.hpp
//
// A channel for exactly one value: the reply half of a request ("do this and tell me the result"),
// or a one-time completion signal that carries data.
//
//   oneshot::channel<T>()   makes a channel; returns {Sender, Receiver}
//   oneshot::Sender<T>      move-only; send(v) once, never waits
//   oneshot::Receiver<T>    move-only; co_await rx.recv() (or co_await rx) gives the value, or
//                           RecvError when the sender went away without sending
//
// Which channel should you use? A stream of values: mpsc; a value many tasks wait for: watch (or a
// sync::OnceCell); see docs/channels.md.
//
//   auto [tx, rx] = tether::oneshot::channel<int>();
//   spawn(worker(std::move(tx)));        // the worker does tx.send(42)
//   auto r = co_await rx;                // r.has_value(): 42; else the worker died without answering
//
// Example: tests/channel/oneshot_test.cpp
#pragma once

#include <mutex>
#include <optional>
#include <utility>

#include "tether/channel/detail/recheck_awaiter.hpp"
#include "tether/channel/error.hpp"
#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/error.hpp"

namespace tether::oneshot {

namespace detail {

using tether::detail::SpinLock;
using tether::detail::Waiter;

// Shared state. Protocol: every field is guarded by mu_; the value moves in once (send) and out
// once (recv); the one waiter is published in `waiter_` and notified when the value arrives or the
// sender goes (recheck_awaiter.hpp rule 2). refs_ counts the two handles.
template <class T>
class State {
 public:
  void release() noexcept {
    // acq_rel: the last handle sees the other's writes before deleting.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  void notify_locked(tether::detail::WakeChain& wakes) noexcept {
    if (Waiter* w = std::exchange(waiter_, nullptr); w && w->claim_notify()) wakes.add(w);
  }

  SpinLock mu_;
  // Guarded by mu_
  std::optional<T> value_;
  bool sent_ = false;           // send() happened (the value may since have been received)
  bool sender_gone_ = false;    // the sender was destroyed
  bool receiver_gone_ = false;  // the receiver was destroyed or closed
  bool received_ = false;
  Waiter* waiter_ = nullptr;
  // Atomic: the handle count
  tether::detail::Atomic<int> refs_{2};
};

template <class T>
struct RecvSource {
  using Result = Expected<T, RecvError>;
  static constexpr const char* kWhat = "oneshot recv";
  State<T>* s;
  SpinLock& mu() noexcept { return s->mu_; }
  bool ready_locked() noexcept { return s->value_.has_value() || s->sender_gone_ || s->received_; }
  Result take_locked() {
    if (s->value_) {
      s->received_ = true;
      Result r = Result::success(std::move(*s->value_));
      s->value_.reset();
      return r;
    }
    if (s->received_) throw Error("oneshot value already received");
    return Result::failure(RecvError{});
  }
  void publish_locked(Waiter* w) noexcept { s->waiter_ = w; }
  void unpublish_locked(Waiter* w) noexcept {
    if (s->waiter_ == w) s->waiter_ = nullptr;
  }
};

}  // namespace detail

// tether::oneshot::Sender<T>
//
// Sends the one value. Destroying it without sending tells the receiver "sender gone".
//
// Thread safety: thread-compatible (move-only; one owner), may live on another thread than the
//   receiver.
// Memory ordering: everything done before send(v) is visible to the task whose recv() returns v.
// Lifetime: independent of the receiver; the shared state lives until both are gone.
//
// Sender::send(value)
//
// Stores the value and wakes the receiver; never waits. Returns: Expected<void, SendError<T>>: an
// error holding the value if the receiver is gone or closed. REQUIRES: not sent before.
// Allocation: never allocates.
template <class T>
class Sender {
 public:
  explicit Sender(detail::State<T>* s) noexcept : s_(s) {}
  Sender(Sender&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Sender& operator=(Sender&& o) noexcept {
    if (this != &o) {
      reset();
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;
  ~Sender() { reset(); }

  Expected<void, SendError<T>> send(T value) {
    if (!s_) throw Error("send() on a moved-from oneshot Sender");
    tether::detail::WakeChain wakes;
    std::lock_guard<tether::detail::SpinLock> g(s_->mu_);
    if (s_->sent_) throw Error("oneshot value already sent");
    if (s_->receiver_gone_) return Expected<void, SendError<T>>::failure(SendError<T>{std::move(value)});
    s_->value_.emplace(std::move(value));
    s_->sent_ = true;
    s_->notify_locked(wakes);
    return Expected<void, SendError<T>>::success();
  }
  // True once the receiver is gone or closed: nobody will read a value.
  bool is_closed() const {
    std::lock_guard<tether::detail::SpinLock> g(s_->mu_);
    return s_->receiver_gone_;
  }

 private:
  void reset() noexcept {
    if (!s_) return;
    {
      tether::detail::WakeChain wakes;
      std::lock_guard<tether::detail::SpinLock> g(s_->mu_);
      s_->sender_gone_ = true;
      if (!s_->sent_) s_->notify_locked(wakes);
    }
    std::exchange(s_, nullptr)->release();
  }
  detail::State<T>* s_;
};

// tether::oneshot::Receiver<T>
//
// Receives the one value.
//
// Thread safety: thread-compatible (move-only; one owner).
// Lifetime: destroying it (or close()) makes a later send() fail with the value handed back; a
//   value already sent and not received is destroyed with the state.
//
// Receiver::recv() / operator co_await
//
// Waits for the value. Returns: Expected<T, RecvError>: the error means the sender was destroyed
// without sending. Throws: tether::Cancelled; tether::Error if the value was already received.
// Cancellation: Cancel-safe: nothing was consumed (await it again).
// Allocation: never allocates.
//
// Receiver::try_recv()
//
// Takes the value if it is there. Returns: Expected<T, TryRecvError>: kEmpty (not sent yet) or
// kClosed (sender gone without sending). Never waits.
template <class T>
class Receiver {
 public:
  explicit Receiver(detail::State<T>* s) noexcept : s_(s) {}
  Receiver(Receiver&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Receiver& operator=(Receiver&& o) noexcept {
    if (this != &o) {
      reset();
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;
  ~Receiver() { reset(); }

  [[nodiscard]] tether::detail::RecheckAwaiter<detail::RecvSource<T>> recv() {
    if (!s_) throw Error("recv() on a moved-from oneshot Receiver");
    return tether::detail::RecheckAwaiter<detail::RecvSource<T>>(detail::RecvSource<T>{s_});
  }
  tether::detail::RecheckAwaiter<detail::RecvSource<T>> operator co_await() { return recv(); }

  Expected<T, TryRecvError> try_recv() {
    if (!s_) throw Error("try_recv() on a moved-from oneshot Receiver");
    std::lock_guard<tether::detail::SpinLock> g(s_->mu_);
    detail::RecvSource<T> src{s_};
    if (src.ready_locked()) {
      auto r = src.take_locked();
      if (r) return Expected<T, TryRecvError>::success(std::move(*r));
      return Expected<T, TryRecvError>::failure(TryRecvError{TryRecvError::Kind::kClosed});
    }
    return Expected<T, TryRecvError>::failure(TryRecvError{TryRecvError::Kind::kEmpty});
  }

  // Refuses the value from now on: a later send() fails with its value. A value already sent can
  // still be received.
  void close() {
    std::lock_guard<tether::detail::SpinLock> g(s_->mu_);
    s_->receiver_gone_ = true;
  }

 private:
  void reset() noexcept {
    if (!s_) return;
    std::optional<T> dropped;
    {
      std::lock_guard<tether::detail::SpinLock> g(s_->mu_);
      s_->receiver_gone_ = true;
      dropped = std::move(s_->value_);  // destroyed outside the lock
      s_->value_.reset();
    }
    std::exchange(s_, nullptr)->release();
  }
  detail::State<T>* s_;
};

// tether::oneshot::channel<T>()
//
// Makes a oneshot channel. Returns {Sender, Receiver}. Allocation: one block for the shared state.
template <class T>
[[nodiscard]] std::pair<Sender<T>, Receiver<T>> channel() {
  auto* s = new detail::State<T>();
  return {Sender<T>(s), Receiver<T>(s)};
}

}  // namespace tether::oneshot

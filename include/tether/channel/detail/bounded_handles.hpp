// Internal; not part of the public API.
//
// The handles of a bounded channel: BoundedSender<T> (mpsc::Sender, mpmc::Sender), BoundedPermit<T>
// (Permit), BoundedReceiver<T, Cloneable> (mpsc::Receiver: move-only; mpmc::Receiver: copyable).
// Their documentation is in the public headers, tether/channel/mpsc.hpp and mpmc.hpp; the protocol
// they drive is in bounded_channel.hpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <utility>

#include "tether/channel/detail/bounded_channel.hpp"
#include "tether/channel/error.hpp"
#include "tether/core/error.hpp"
#include "tether/core/task.hpp"
#include "tether/time/deadline.hpp"
#include "tether/time/timeout.hpp"

namespace tether::detail {

template <class T>
class BoundedPermit {
 public:
  // Adopts a reservation taken by reserve_locked() / fill_from_senders_locked().
  explicit BoundedPermit(BoundedChannel<T>* ch) noexcept : ch_(ch) {}
  BoundedPermit(BoundedPermit&& o) noexcept : ch_(std::exchange(o.ch_, nullptr)) {}
  BoundedPermit& operator=(BoundedPermit&& o) noexcept {
    if (this != &o) {
      reset();
      ch_ = std::exchange(o.ch_, nullptr);
    }
    return *this;
  }
  BoundedPermit(const BoundedPermit&) = delete;
  BoundedPermit& operator=(const BoundedPermit&) = delete;
  ~BoundedPermit() { reset(); }

  // Sends `value` into the reserved slot; never waits. Consumes the permit. If every receiver is
  // gone, the value is destroyed (nobody can receive it). REQUIRES: the permit was not used.
  void send(T value) && {
    if (!ch_) throw Error("send() on a used or moved-from Permit");
    std::exchange(ch_, nullptr)->permit_send(std::move(value));
  }
  bool valid() const noexcept { return ch_ != nullptr; }

 private:
  void reset() noexcept {
    if (ch_) std::exchange(ch_, nullptr)->permit_return();
  }
  BoundedChannel<T>* ch_;
};

template <class T>
class [[nodiscard]] ReserveAwaiter : public ReserveAwaiterBase<T> {
 public:
  using ReserveAwaiterBase<T>::ReserveAwaiterBase;
  std::optional<BoundedPermit<T>> await_resume() {
    if (BoundedChannel<T>* ch = this->await_resume_raw()) return BoundedPermit<T>(ch);
    return std::nullopt;
  }
};

template <class T>
class BoundedSender {
 public:
  using Permit = BoundedPermit<T>;

  // Adopts one sender count and reference of `ch`.
  explicit BoundedSender(BoundedChannel<T>* ch) noexcept : ch_(ch) {}
  BoundedSender(const BoundedSender& o) noexcept : ch_(o.ch_) {
    if (ch_) ch_->add_sender();
  }
  BoundedSender(BoundedSender&& o) noexcept : ch_(std::exchange(o.ch_, nullptr)) {}
  BoundedSender& operator=(const BoundedSender& o) noexcept {
    if (this != &o) {
      if (o.ch_) o.ch_->add_sender();
      reset();
      ch_ = o.ch_;
    }
    return *this;
  }
  BoundedSender& operator=(BoundedSender&& o) noexcept {
    if (this != &o) {
      reset();
      ch_ = std::exchange(o.ch_, nullptr);
    }
    return *this;
  }
  ~BoundedSender() { reset(); }

  [[nodiscard]] SendAwaiter<T> send(T value) { return SendAwaiter<T>(checked(), std::move(value)); }

  Expected<void, TrySendError<T>> try_send(T value) noexcept(false) {
    BoundedChannel<T>* ch = checked();
    ChanOp r;
    {
      WakeChain wakes;
      std::lock_guard<SpinLock> g(ch->mu_);
      r = ch->send_locked(value, wakes, gate_open);
    }
    using R = Expected<void, TrySendError<T>>;
    if (r == ChanOp::kDone) return R::success();
    using K = typename TrySendError<T>::Kind;
    return R::failure(TrySendError<T>{r == ChanOp::kClosed ? K::kClosed : K::kFull, std::move(value)});
  }

  [[nodiscard]] Task<Expected<void, SendTimeoutError<T>>> send_until(T value, Deadline deadline) {
    using R = Expected<void, SendTimeoutError<T>>;
    using K = typename SendTimeoutError<T>::Kind;
    SendAwaiter<T> op(checked(), std::move(value));
    std::optional<R> out;
    if (deadline.is_never()) {
      auto r = co_await AwaitRef<SendAwaiter<T>>{&op};
      if (r) co_return R::success();
      co_return R::failure(SendTimeoutError<T>{K::kClosed, std::move(r).error().value});
    }
    try {
      auto r = co_await timeout_at(deadline, AwaitRef<SendAwaiter<T>>{&op}, "send");
      if (r) co_return R::success();
      out.emplace(R::failure(SendTimeoutError<T>{K::kClosed, std::move(r).error().value}));
    } catch (const TimedOut&) {
      // The wait was cancelled by the deadline: no receiver took the value (its claim would have
      // won over the cancellation), so it is still ours to hand back.
      out.emplace(R::failure(SendTimeoutError<T>{K::kTimedOut, op.take_value()}));
    }
    co_return std::move(*out);
  }

  template <class Rep, class Period>
  [[nodiscard]] Task<Expected<void, SendTimeoutError<T>>> send_for(T value, std::chrono::duration<Rep, Period> d) {
    return send_until(std::move(value), Deadline::after(d));
  }

  [[nodiscard]] ReserveAwaiter<T> reserve() { return ReserveAwaiter<T>(checked()); }

  bool is_closed() const { return checked()->rx_closed(); }
  std::size_t capacity() const { return checked()->capacity(); }
  bool valid() const noexcept { return ch_ != nullptr; }
  ChannelStats stats() const { return checked()->stats(); }
  // A reference for monitors that never keeps the channel open (tether/channel/stats.hpp).
  ChannelGauge gauge() const {
    BoundedChannel<T>* ch = checked();
    ch->add_ref();
    return ChannelGauge::adopt(ch);
  }

 private:
  BoundedChannel<T>* checked() const {
    if (!ch_) throw Error("use of a moved-from channel Sender");
    return ch_;
  }
  void reset() noexcept {
    if (ch_) std::exchange(ch_, nullptr)->drop_sender();
  }
  BoundedChannel<T>* ch_;
};

template <class T, bool Cloneable>
class BoundedReceiver {
 public:
  // Adopts one receiver count and reference of `ch`.
  explicit BoundedReceiver(BoundedChannel<T>* ch) noexcept : ch_(ch) {}
  BoundedReceiver(const BoundedReceiver& o) noexcept requires Cloneable : ch_(o.ch_) {
    if (ch_) ch_->add_receiver();
  }
  BoundedReceiver(const BoundedReceiver&) requires(!Cloneable) = delete;
  BoundedReceiver& operator=(const BoundedReceiver& o) noexcept requires Cloneable {
    if (this != &o) {
      if (o.ch_) o.ch_->add_receiver();
      reset();
      ch_ = o.ch_;
    }
    return *this;
  }
  BoundedReceiver& operator=(const BoundedReceiver&) requires(!Cloneable) = delete;
  BoundedReceiver(BoundedReceiver&& o) noexcept : ch_(std::exchange(o.ch_, nullptr)) {}
  BoundedReceiver& operator=(BoundedReceiver&& o) noexcept {
    if (this != &o) {
      reset();
      ch_ = std::exchange(o.ch_, nullptr);
    }
    return *this;
  }
  ~BoundedReceiver() { reset(); }

  [[nodiscard]] RecvAwaiter<T> recv() { return RecvAwaiter<T>(checked()); }

  Expected<T, TryRecvError> try_recv() {
    BoundedChannel<T>* ch = checked();
    std::optional<T> v;
    ChanOp r = ch->take_claimed(v, gate_open);
    if (r != ChanOp::kDone) {
      WakeChain wakes;
      std::lock_guard<SpinLock> g(ch->mu_);
      r = ch->recv_locked(v, wakes, gate_open);
    }
    using R = Expected<T, TryRecvError>;
    if (r == ChanOp::kDone) return R::success(std::move(*v));
    return R::failure(TryRecvError{r == ChanOp::kClosed ? TryRecvError::Kind::kClosed : TryRecvError::Kind::kEmpty});
  }

  template <class Fn>
  [[nodiscard]] Task<std::size_t> for_each(Fn fn) {
    std::size_t n = 0;
    while (auto v = co_await recv()) {
      fn(std::move(*v));
      ++n;
    }
    co_return n;
  }

  void close() { checked()->close(); }
  bool is_closed() const { return checked()->drained_and_closed(); }
  std::size_t len() const { return checked()->len(); }
  std::size_t capacity() const { return checked()->capacity(); }
  bool valid() const noexcept { return ch_ != nullptr; }
  ChannelStats stats() const { return checked()->stats(); }
  // A reference for monitors that never keeps the channel open (tether/channel/stats.hpp).
  ChannelGauge gauge() const {
    BoundedChannel<T>* ch = checked();
    ch->add_ref();
    return ChannelGauge::adopt(ch);
  }

 private:
  BoundedChannel<T>* checked() const {
    if (!ch_) throw Error("use of a moved-from channel Receiver");
    return ch_;
  }
  void reset() noexcept {
    if (ch_) std::exchange(ch_, nullptr)->drop_receiver();
  }
  BoundedChannel<T>* ch_;
};

}  // namespace tether::detail

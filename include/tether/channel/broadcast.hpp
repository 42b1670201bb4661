// tether/channel/broadcast.hpp
//
// A bounded multi-producer, multi-consumer channel where every receiver sees every value: events,
// invalidations, shutdown notices fanned out to many tasks.
//
//   broadcast::channel<T>(capacity)  makes a channel; returns {Sender, Receiver}
//   broadcast::Sender<T>             copyable; send(v) never waits; subscribe() adds a receiver
//   broadcast::Receiver<T>           move-only; recv() gives the next value, kLagged, or kClosed
//
// The buffer is a ring of `capacity` values. Senders never wait for slow receivers: a send
// overwrites the oldest value. A receiver that falls more than `capacity` values behind is told how
// many it missed (RecvError kLagged, missed = n) and continues with the oldest value still held;
// values are never skipped silently.
//
// Which channel should you use? Each value to one consumer: mpsc/mpmc; only the latest state
// matters: watch; see docs/channels.md.
//
//   auto [tx, rx] = tether::broadcast::channel<Event>(64);
//   auto rx2 = tx.subscribe();
//   tx.send(Event::kReload);
//   auto r = co_await rx.recv();  // r.has_value(), or r.error().is_lagged() / is_closed()
//
// Example: tests/channel/broadcast_test.cpp
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "tether/channel/detail/recheck_awaiter.hpp"
#include "tether/channel/error.hpp"
#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/error.hpp"

namespace tether::broadcast {

namespace detail {

using tether::detail::SpinLock;
using tether::detail::Waiter;

// Shared state. Protocol: every field but refs_ is guarded by mu_. Value number `seq` lives in
// ring_[seq % cap] while tail_ - cap <= seq < tail_. Each receiver owns a cursor (the next seq it
// reads), touched only under mu_. A send, or the last sender going, notifies every waiting
// receiver (recheck_awaiter.hpp rule 2): a waiter waits only when its cursor == tail_, so after a
// send it has a value (or a lag) to report, after the last sender went it has kClosed.
template <class T>
class State {
 public:
  explicit State(std::size_t cap) : cap_(cap), ring_(cap) {}

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }  // relaxed: see release()
  void release() noexcept {
    // acq_rel: the last handle sees every other handle's writes before deleting.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  std::uint64_t oldest_locked() const noexcept { return tail_ > cap_ ? tail_ - cap_ : 0; }

  // Constant after construction
  const std::size_t cap_;
  SpinLock mu_;
  // Guarded by mu_
  std::vector<std::optional<T>> ring_;
  std::uint64_t tail_ = 0;  // the number of values ever sent
  std::size_t senders_ = 1;
  std::size_t receivers_ = 1;
  tether::detail::WaitList waiters_;
  // Atomic: handle count (senders + receivers)
  tether::detail::Atomic<std::size_t> refs_{2};
};

template <class T>
struct RecvSource {
  using Result = Expected<T, RecvError>;
  static constexpr const char* kWhat = "broadcast recv";
  State<T>* s;
  std::uint64_t* next;  // the receiver's cursor
  SpinLock& mu() noexcept { return s->mu_; }
  bool ready_locked() noexcept { return *next < s->tail_ || s->senders_ == 0; }
  Result take_locked() {
    std::uint64_t oldest = s->oldest_locked();
    if (*next < oldest) {
      RecvError lag{RecvError::Kind::kLagged, oldest - *next};
      *next = oldest;
      return Result::failure(lag);
    }
    if (*next < s->tail_) {
      const std::optional<T>& slot = s->ring_[*next % s->cap_];
      ++*next;
      return Result::success(*slot);  // a copy: every receiver gets its own
    }
    return Result::failure(RecvError{RecvError::Kind::kClosed, 0});
  }
  void publish_locked(Waiter* w) noexcept { s->waiters_.push_back(w); }
  void unpublish_locked(Waiter* w) noexcept { s->waiters_.remove(w); }
};

}  // namespace detail

template <class T>
class Receiver;

// tether::broadcast::Sender<T>
//
// Sending half of a broadcast channel. Copyable; the channel closes (receivers get kClosed after
// reading what is left) when the last Sender is destroyed.
//
// Thread safety: thread-safe: copies may be used from any task or thread concurrently.
// Memory ordering: everything done before send(v) is visible to each task whose recv() returns v.
// Lifetime: the shared state lives until the last handle goes.
//
// Sender::send(value)
//
// Appends `value` (overwriting the oldest when the ring is full) and wakes every waiting receiver;
// never waits. Returns: Expected<std::size_t, SendError<T>>: how many receivers will see it, or an
// error holding the value when there are no receivers at all. Allocation: never allocates (beyond
// what copying T into the ring slot does).
//
// Sender::subscribe()
//
// A new receiver that sees every value sent from now on.
template <class T>
class Sender {
 public:
  explicit Sender(detail::State<T>* s) noexcept : s_(s) {}
  Sender(const Sender& o) noexcept : s_(o.s_) {
    {
      std::lock_guard<detail::SpinLock> g(s_->mu_);
      ++s_->senders_;
    }
    s_->add_ref();
  }
  Sender(Sender&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Sender& operator=(Sender o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~Sender() { reset(); }

  Expected<std::size_t, SendError<T>> send(T value) {
    if (!s_) throw Error("send() on a moved-from broadcast Sender");
    std::optional<T> old;
    tether::detail::WakeChain wakes;  // destroyed last: wakes after the lock is released
    std::lock_guard<detail::SpinLock> g(s_->mu_);
    if (s_->receivers_ == 0) return Expected<std::size_t, SendError<T>>::failure(SendError<T>{std::move(value)});
    std::optional<T>& slot = s_->ring_[s_->tail_ % s_->cap_];
    old = std::move(slot);  // destroyed outside the lock
    slot.emplace(std::move(value));
    ++s_->tail_;
    tether::detail::notify_all_locked(s_->waiters_, wakes);
    return Expected<std::size_t, SendError<T>>::success(s_->receivers_);
  }

  [[nodiscard]] Receiver<T> subscribe();

  std::size_t receiver_count() const {
    std::lock_guard<detail::SpinLock> g(s_->mu_);
    return s_->receivers_;
  }

 private:
  void reset() noexcept {
    if (!s_) return;
    {
      tether::detail::WakeChain wakes;
      std::lock_guard<detail::SpinLock> g(s_->mu_);
      if (--s_->senders_ == 0) tether::detail::notify_all_locked(s_->waiters_, wakes);
    }
    std::exchange(s_, nullptr)->release();
  }
  detail::State<T>* s_;
};

// tether::broadcast::Receiver<T>
//
// Receiving half of a broadcast channel: its own cursor into the ring.
//
// Thread safety: confined to one task at a time (move-only).
// Lifetime: destroying it unsubscribes; the last receiver going makes send() fail.
//
// Receiver::recv()
//
// Waits for the next value. Returns: Expected<T, RecvError>: the value (a copy), or kLagged with
// how many values were overwritten before this receiver read them (the next recv() continues with
// the oldest value held), or kClosed once every sender is gone and everything was read.
// Throws: tether::Cancelled.
// Cancellation: Cancel-safe: nothing was consumed.
// Allocation: never allocates (beyond copying T).
//
// Receiver::try_recv()
//
// As recv() without waiting: Expected<T, TryRecvError> with kEmpty when nothing new is there.
template <class T>
class Receiver {
  static_assert(std::is_copy_constructible_v<T>, "broadcast values are copied to every receiver");

 public:
  Receiver(detail::State<T>* s, std::uint64_t next) noexcept : s_(s), next_(next) {}
  Receiver(Receiver&& o) noexcept : s_(std::exchange(o.s_, nullptr)), next_(o.next_) {}
  Receiver& operator=(Receiver&& o) noexcept {
    if (this != &o) {
      reset();
      s_ = std::exchange(o.s_, nullptr);
      next_ = o.next_;
    }
    return *this;
  }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;
  ~Receiver() { reset(); }

  [[nodiscard]] tether::detail::RecheckAwaiter<detail::RecvSource<T>> recv() {
    if (!s_) throw Error("recv() on a moved-from broadcast Receiver");
    return tether::detail::RecheckAwaiter<detail::RecvSource<T>>(detail::RecvSource<T>{s_, &next_});
  }

  Expected<T, TryRecvError> try_recv() {
    if (!s_) throw Error("try_recv() on a moved-from broadcast Receiver");
    std::lock_guard<detail::SpinLock> g(s_->mu_);
    detail::RecvSource<T> src{s_, &next_};
    using R = Expected<T, TryRecvError>;
    if (!src.ready_locked()) return R::failure(TryRecvError{TryRecvError::Kind::kEmpty});
    auto r = src.take_locked();
    if (r) return R::success(std::move(*r));
    if (r.error().is_lagged()) return R::failure(TryRecvError{TryRecvError::Kind::kLagged, r.error().missed});
    return R::failure(TryRecvError{TryRecvError::Kind::kClosed});
  }

  // A new receiver of the same channel that starts at the newest point (sees values sent from now).
  [[nodiscard]] Receiver resubscribe() const {
    std::lock_guard<detail::SpinLock> g(s_->mu_);
    ++s_->receivers_;
    s_->add_ref();
    return Receiver(s_, s_->tail_);
  }

 private:
  void reset() noexcept {
    if (!s_) return;
    {
      std::lock_guard<detail::SpinLock> g(s_->mu_);
      --s_->receivers_;
    }
    std::exchange(s_, nullptr)->release();
  }
  detail::State<T>* s_;
  std::uint64_t next_;  // Access: only under s_->mu_ (and by the owning task)
};

template <class T>
Receiver<T> Sender<T>::subscribe() {
  std::lock_guard<detail::SpinLock> g(s_->mu_);
  ++s_->receivers_;
  s_->add_ref();
  return Receiver<T>(s_, s_->tail_);
}

// tether::broadcast::channel<T>(capacity)
//
// Makes a broadcast channel holding the last `capacity` values. Returns {Sender, Receiver}.
// Throws: tether::Error if capacity is 0. Allocation: the state and its ring.
template <class T>
[[nodiscard]] std::pair<Sender<T>, Receiver<T>> channel(std::size_t capacity) {
  if (capacity == 0) throw Error("channel capacity must be at least 1");
  auto* s = new detail::State<T>(capacity);
  return {Sender<T>(s), Receiver<T>(s, 0)};
}

}  // namespace tether::broadcast

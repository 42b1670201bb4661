// tether/channel/watch.hpp
//
// A single-value channel: the sender publishes the latest state (a configuration, a health status,
// a "shutting down" flag); receivers read the current value whenever they like and can wait for
// the next change. Intermediate values may be skipped: only the latest one matters.
//
//   watch::channel<T>(initial)  makes a channel; returns {Sender, Receiver}
//   watch::Sender<T>            move-only; send(v), send_modify(fn), borrow(), subscribe()
//   watch::Receiver<T>          copyable; borrow(), borrow_and_update(), changed(), has_changed()
//   watch::Ref<T>               what borrow() returns: a shared_ptr<const T> snapshot
//
// A borrow is an immutable snapshot held by reference count, not a lock: keeping it across an
// await blocks nobody (the guidance's "never hold a lock across an await" cannot be broken here).
//
// Which channel should you use? Every value matters: mpsc or broadcast; see docs/channels.md.
//
//   auto [tx, rx] = tether::watch::channel<Config>(load());
//   while (co_await rx.changed()) apply(*rx.borrow_and_update());   // false: the sender is gone
//
// Example: tests/channel/watch_test.cpp
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

#include "tether/channel/detail/recheck_awaiter.hpp"
#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/error.hpp"

namespace tether::watch {

template <class T>
using Ref = std::shared_ptr<const T>;

namespace detail {

using tether::detail::SpinLock;
using tether::detail::Waiter;

// Shared state. Protocol: value_, version_, sender_gone_, receivers_ and waiters_ are guarded by
// mu_. A new value bumps version_ and notifies every waiter; so does the sender going. A waiter
// waits only while its seen version == version_ and the sender lives, so a notified waiter always
// has something to report (recheck_awaiter.hpp rule 2).
template <class T>
class State {
 public:
  explicit State(T initial) : value_(std::make_shared<const T>(std::move(initial))) {}
  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }  // relaxed: see release()
  void release() noexcept {
    // acq_rel: the last handle sees every other handle's writes before deleting.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  SpinLock mu_;
  // Guarded by mu_
  Ref<T> value_;
  std::uint64_t version_ = 0;
  bool sender_gone_ = false;
  std::size_t receivers_ = 1;
  tether::detail::WaitList waiters_;
  // Atomic: handle count
  tether::detail::Atomic<std::size_t> refs_{2};
};

template <class T>
struct ChangedSource {
  using Result = bool;
  static constexpr const char* kWhat = "watch changed";
  State<T>* s;
  std::uint64_t* seen;
  SpinLock& mu() noexcept { return s->mu_; }
  bool ready_locked() noexcept { return *seen != s->version_ || s->sender_gone_; }
  bool take_locked() noexcept {
    if (*seen != s->version_) {
      *seen = s->version_;
      return true;
    }
    return false;  // the sender is gone and nothing new was published
  }
  void publish_locked(Waiter* w) noexcept { s->waiters_.push_back(w); }
  void unpublish_locked(Waiter* w) noexcept { s->waiters_.remove(w); }
};

}  // namespace detail

template <class T>
class Receiver;

// tether::watch::Sender<T>
//
// Publishes new values. Move-only: one writer (share it through a Mutex if several must write).
//
// Thread safety: thread-compatible (one owner); its methods may run concurrently with receivers.
// Memory ordering: everything done before send(v) is visible to a task that borrows v.
// Lifetime: destroying it wakes every changed() waiter with false; receivers can still borrow the
//   last value.
//
// Sender::send(value) / send_modify(fn)
//
// Publishes `value` (or a copy of the current value modified by fn(T&)) and wakes every receiver
// waiting in changed(). Never waits; publishes even when no receiver exists.
// Allocation: one block per published value (the shared snapshot).
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

  void send(T value) { publish(std::make_shared<const T>(std::move(value))); }

  template <class Fn>
  void send_modify(Fn&& fn) {
    T copy = *borrow();  // the only writer, so nobody publishes between this read and ours
    fn(copy);
    send(std::move(copy));
  }

  Ref<T> borrow() const {
    std::lock_guard<detail::SpinLock> g(checked()->mu_);
    return s_->value_;
  }
  std::size_t receiver_count() const {
    std::lock_guard<detail::SpinLock> g(checked()->mu_);
    return s_->receivers_;
  }
  [[nodiscard]] Receiver<T> subscribe();

 private:
  void publish(Ref<T> v) {
    Ref<T> old;  // destroyed outside the lock
    tether::detail::WakeChain wakes;
    std::lock_guard<detail::SpinLock> g(checked()->mu_);
    old = std::exchange(s_->value_, std::move(v));
    ++s_->version_;
    tether::detail::notify_all_locked(s_->waiters_, wakes);
  }
  detail::State<T>* checked() const {
    if (!s_) throw Error("use of a moved-from watch Sender");
    return s_;
  }
  void reset() noexcept {
    if (!s_) return;
    {
      tether::detail::WakeChain wakes;
      std::lock_guard<detail::SpinLock> g(s_->mu_);
      s_->sender_gone_ = true;
      tether::detail::notify_all_locked(s_->waiters_, wakes);
    }
    std::exchange(s_, nullptr)->release();
  }
  detail::State<T>* s_;
};

// tether::watch::Receiver<T>
//
// Reads the latest value and waits for changes. Each receiver remembers the version it last saw.
// Copying it gives an independent receiver that has seen the same version.
//
// Thread safety: thread-compatible: one object per task; copies are independent.
// Lifetime: independent of the sender; the last value stays readable after the sender is gone.
//
// Receiver::borrow() / borrow_and_update()
//
// The current value as an immutable snapshot; borrow_and_update() also marks it seen.
//
// Receiver::changed()
//
// Waits until a value newer than the last seen one is published, and marks it seen (borrow it
// next). Returns: true; false when the sender is gone and nothing newer was published.
// Throws: tether::Cancelled.
// Cancellation: Cancel-safe: nothing was consumed.
// Allocation: never allocates.
template <class T>
class Receiver {
 public:
  Receiver(detail::State<T>* s, std::uint64_t seen) noexcept : s_(s), seen_(seen) {}
  Receiver(const Receiver& o) : s_(o.s_), seen_(o.seen_) {
    if (s_) add();
  }
  Receiver(Receiver&& o) noexcept : s_(std::exchange(o.s_, nullptr)), seen_(o.seen_) {}
  Receiver& operator=(Receiver o) noexcept {
    std::swap(s_, o.s_);
    std::swap(seen_, o.seen_);
    return *this;
  }
  ~Receiver() { reset(); }

  Ref<T> borrow() const {
    std::lock_guard<detail::SpinLock> g(checked()->mu_);
    return s_->value_;
  }
  Ref<T> borrow_and_update() {
    std::lock_guard<detail::SpinLock> g(checked()->mu_);
    seen_ = s_->version_;
    return s_->value_;
  }
  // True if a value newer than the last seen one is there. Never waits.
  bool has_changed() const {
    std::lock_guard<detail::SpinLock> g(checked()->mu_);
    return seen_ != s_->version_;
  }
  [[nodiscard]] tether::detail::RecheckAwaiter<detail::ChangedSource<T>> changed() {
    return tether::detail::RecheckAwaiter<detail::ChangedSource<T>>(detail::ChangedSource<T>{checked(), &seen_});
  }

 private:
  void add() {
    std::lock_guard<detail::SpinLock> g(s_->mu_);
    ++s_->receivers_;
    s_->add_ref();
  }
  detail::State<T>* checked() const {
    if (!s_) throw Error("use of a moved-from watch Receiver");
    return s_;
  }
  void reset() noexcept {
    if (!s_) return;
    {
      std::lock_guard<detail::SpinLock> g(s_->mu_);
      --s_->receivers_;
    }
    std::exchange(s_, nullptr)->release();
  }
  detail::State<T>* s_;
  std::uint64_t seen_;  // Access: only under s_->mu_ (and by the owning task)
};

template <class T>
Receiver<T> Sender<T>::subscribe() {
  std::lock_guard<detail::SpinLock> g(checked()->mu_);
  ++s_->receivers_;
  s_->add_ref();
  return Receiver<T>(s_, s_->version_);
}

// tether::watch::channel<T>(initial)
//
// Makes a watch channel holding `initial` (seen by the first receiver). Returns {Sender, Receiver}.
template <class T>
[[nodiscard]] std::pair<Sender<T>, Receiver<T>> channel(T initial) {
  auto* s = new detail::State<T>(std::move(initial));
  return {Sender<T>(s), Receiver<T>(s, 0)};
}

}  // namespace tether::watch

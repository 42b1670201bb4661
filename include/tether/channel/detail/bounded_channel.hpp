// Internal; not part of the public API.
//
// BoundedChannel<T>: the shared state behind mpsc and mpmc (tether/channel/mpsc.hpp, mpmc.hpp),
// and the awaiters of send(), recv() and reserve().
//
// Reading map: the protocol below; WakeChain; the ring (push/pop); the locked operations
// (send_locked, recv_locked, the settle_* helpers); handle counting; then the three awaiters,
// which all have the same shape (await_suspend tries under the lock, waits if it must;
// await_resume reports what the notifier decided).
//
// Protocol. Every field below `mu_` is guarded by it; the critical sections are a few dozen
// instructions and never call user code except T's move constructor (which must not throw).
//  1. The buffer is a ring of `cap_` slots; `reserved_` slots are promised to outstanding Permits.
//     The channel is full when len_ + reserved_ == cap_.
//  2. Receivers wait (in `recv_waiters_`, FIFO) only while the buffer is empty, so a sender that
//     finds a waiting receiver hands its value straight into that receiver's node (RecvNode::value)
//     instead of the ring. It pops receivers with pop_notify(): a receiver whose claim fails was
//     cancelled (or lost its select) and never sees the value (waiter.hpp rule 1); the sender tries
//     the next one, then the ring. So a cancelled recv loses nothing.
//  3. Senders and reservers wait (in `send_waiters_`, FIFO) only while the channel is full. A
//     receiver that takes a value frees one slot and gives it at once to the first waiter that
//     accepts its claim: a sender's value is moved from the sender's awaiter into the ring
//     (SendNode::value), a reserver is granted the slot (reserved_ + 1). Waiting senders so keep
//     their FIFO place, and a cancelled sender's value is never taken (it is destroyed with its
//     awaiter: send() is not cancel-safe, reserve() is).
//  4. A notifier sets the node's outcome after a successful claim and before the wake, under `mu_`;
//     the woken task reads it in await_resume (the claim's acq_rel and the wake's scheduling
//     handshake order the write before the read). Wakes happen after `mu_` is released
//     (WakeChain), so a woken task never spins on the lock its waker still holds.
//  5. Closing: `rx_closed_` goes true when a receiver calls close() or the last receiver goes. Then
//     every waiting sender is woken with kClosed (its value stays in its awaiter and is handed
//     back), and new sends fail at once; values already buffered stay receivable. The channel is
//     drained-and-closed when it is empty, no permit is outstanding and (rx_closed_ or no sender
//     is left): then every waiting receiver is woken with nothing, and recv() returns nullopt.
//     Permits count as senders, so a permit can still deliver after the last Sender is dropped.
//  6. The last receiver to go destroys the buffered values, one at a time outside the lock.
//  7. select (waiter.hpp rule 4): an operation that can complete without waiting asks the gate
//     (may_consume) under the lock before it takes or gives anything; a branch that lost arms its
//     waiter without joining a queue and waits for the cancellation that select sends it.
//  8. `refs_` counts handles (senders, receivers, permits); the last one deletes the channel.
//  9. Consumer batching (mpsc only: one receiver). When the receiver takes a value under the lock it
//     also claims up to `batch_` of the values behind it (claim_left_). It takes claimed values
//     later WITHOUT the lock: they stay counted in len_ (so no sender writes their slots) until the
//     receiver next takes the lock and releases what it took (release_claim_locked: head_ and len_
//     advance, freed slots go to waiting senders). Only the receiver writes head_, claim_left_ and
//     claim_taken_, and it writes head_ only under the lock, so senders (which read head_ under the
//     lock) never race with it; a claimed value was written by a sender before the lock release
//     that preceded the claim, so reading it later is ordered. Effect: one lock round per batch on
//     the receiving side, and slots return to senders in batches (capacity stays exact).
#pragma once

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "tether/channel/error.hpp"
#include "tether/channel/stats.hpp"
#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/detail/task_header.hpp"
#include "tether/core/error.hpp"

namespace tether::detail {

// Claimed waiters, woken after the lock is released (protocol rule 4). Chained through
// Waiter::next, which is free once the waiter is unlinked from its queue.
class WakeChain {
 public:
  WakeChain() = default;
  WakeChain(const WakeChain&) = delete;
  WakeChain& operator=(const WakeChain&) = delete;
  ~WakeChain() { wake_all(); }

  void add(Waiter* w) noexcept {
    w->next = head_;
    head_ = w;
  }
  void wake_all() noexcept {
    while (Waiter* w = head_) {
      // Read the link before the wake: once woken, the task may destroy the waiter.
      head_ = w->next;
      w->wake();
    }
  }

 private:
  Waiter* head_ = nullptr;
};

template <class T>
struct RecvNode : Waiter {
  std::optional<T> value;  // Access: written by the notifier after its claim (rule 4); nullopt: closed
};

template <class T>
struct SendNode : Waiter {
  enum Outcome : std::uint8_t { kNone, kSent, kGranted, kClosed };
  T* value = nullptr;       // the sender's value; null for reserve()
  Outcome outcome = kNone;  // Access: written by the notifier after its claim (rule 4)
};

enum class ChanOp : std::uint8_t { kDone, kClosed, kWouldWait, kLost };

// Spends a budget unit after an operation that completed without waiting; when the budget is spent,
// the task yields (suspends at the back of the queue) with the result already in hand.
inline bool yield_if_budget_spent(TaskHeader* self, std::coroutine_handle<> h) noexcept {
  if (consume_budget()) return false;
  self->resume_point = h;
  self->wake(ScheduleHint::kYield);
  return true;
}

inline bool gate_open() noexcept { return true; }

template <class T>
class BoundedChannel {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "channel values must be nothrow move constructible (they move under the channel lock)");
  static_assert(std::is_nothrow_destructible_v<T>, "channel values must be nothrow destructible");

 public:
  // A new channel with one sender and `receivers` receivers (the handles returned by channel()).
  BoundedChannel(std::size_t capacity, std::size_t receivers, bool single_consumer)
      : cap_(capacity),
        buf_(std::allocator<T>().allocate(capacity)),
        batch_(single_consumer ? std::min<std::size_t>(kMaxBatch, capacity / 4) : 0),
        receivers_(receivers) {
    refs_.store(1 + receivers, std::memory_order_relaxed);  // not yet shared
  }
  BoundedChannel(const BoundedChannel&) = delete;
  BoundedChannel& operator=(const BoundedChannel&) = delete;
  ~BoundedChannel() {
    while (len_ > 0) pop();
    std::allocator<T>().deallocate(buf_, cap_);
  }

  static BoundedChannel* create(std::size_t capacity, std::size_t receivers, bool single_consumer) {
    if (capacity == 0) throw Error("channel capacity must be at least 1");
    return new BoundedChannel(capacity, receivers, single_consumer);
  }

  // ---- handle counting (rule 8) ----
  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }  // relaxed: see release()
  void release() noexcept {
    // acq_rel: the last holder sees every other holder's writes before deleting.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  void add_sender() noexcept {
    {
      std::lock_guard<SpinLock> g(mu_);
      ++senders_;
    }
    add_ref();
  }
  void drop_sender() noexcept {
    {
      WakeChain wakes;
      std::unique_lock<SpinLock> g(mu_);
      --senders_;
      settle_receivers_locked(wakes);
      g.unlock();
    }
    release();
  }
  void add_receiver() noexcept {
    {
      std::lock_guard<SpinLock> g(mu_);
      ++receivers_;
    }
    add_ref();
  }
  void drop_receiver() noexcept {
    {
      WakeChain wakes;
      std::unique_lock<SpinLock> g(mu_);
      bool last = --receivers_ == 0;
      if (last) {
        if (batch_ > 0) {
          release_claim_locked();  // rule 9: the taken values are gone already
          claim_left_ = 0;
        }
        close_locked(wakes);
      }
      g.unlock();
      wakes.wake_all();
      // Rule 6: nobody can receive them any more; destroy outside the lock.
      while (last) {
        std::optional<T> v;
        g.lock();
        if (len_ > 0) v.emplace(pop());
        g.unlock();
        if (!v) break;
      }
    }
    release();
  }

  // ---- operations ----
  void close() noexcept {
    WakeChain wakes;
    std::lock_guard<SpinLock> g(mu_);
    close_locked(wakes);
  }

  template <class Gate>
  ChanOp send_locked(T& v, WakeChain& wakes, Gate&& gate) noexcept {
    if (rx_closed_) return gate() ? ChanOp::kClosed : ChanOp::kLost;
    if (len_ == 0 && !recv_waiters_.empty()) {
      // Rule 2: hand the value to the first receiver that accepts it.
      if (!gate()) return ChanOp::kLost;
      if (Waiter* w = recv_waiters_.pop_notify()) {
        static_cast<RecvNode<T>*>(w)->value.emplace(std::move(v));
        wakes.add(w);
        return ChanOp::kDone;
      }
      // Every waiting receiver was cancelled. We hold the select win from here on (the gate said
      // yes); if there is no room we wait for it like any sender.
      if (len_ + reserved_ < cap_) {
        push(std::move(v));
        return ChanOp::kDone;
      }
      return ChanOp::kWouldWait;
    }
    if (len_ + reserved_ < cap_) {
      if (!gate()) return ChanOp::kLost;
      push(std::move(v));
      return ChanOp::kDone;
    }
    return ChanOp::kWouldWait;
  }

  // Rule 9, receiver only, without the lock: takes the next claimed value, if any.
  template <class Gate>
  ChanOp take_claimed(std::optional<T>& out, Gate&& gate) noexcept {
    // batch_ first: it is constant, and mpmc (batch_ == 0, several receivers) must never touch the
    // receiver-only fields outside the lock.
    if (batch_ == 0 || claim_left_ == 0) return ChanOp::kWouldWait;
    if (!gate()) return ChanOp::kLost;
    std::size_t i = head_ + claim_taken_;
    if (i >= cap_) i -= cap_;
    // SAFETY: slot i is claimed (rule 9): live, counted in len_, and touched by nobody else.
    T* p = std::launder(buf_ + i);
    out.emplace(std::move(*p));
    p->~T();
    ++claim_taken_;
    --claim_left_;
    return ChanOp::kDone;
  }

  template <class Gate>
  ChanOp recv_locked(std::optional<T>& out, WakeChain& wakes, Gate&& gate) noexcept {
    if (claim_taken_ > 0) {
      release_claim_locked();
      fill_from_senders_locked(wakes);  // rule 3
    }
    if (len_ > 0) {
      if (!gate()) return ChanOp::kLost;
      out.emplace(pop());
      if (batch_ > 0) claim_left_ = std::min(len_, batch_);  // rule 9
      fill_from_senders_locked(wakes);                       // rule 3
      return ChanOp::kDone;
    }
    if (drained_and_closed_locked()) return gate() ? ChanOp::kClosed : ChanOp::kLost;
    return ChanOp::kWouldWait;
  }

  template <class Gate>
  ChanOp reserve_locked(Gate&& gate) noexcept {
    if (rx_closed_) return gate() ? ChanOp::kClosed : ChanOp::kLost;
    if (len_ + reserved_ < cap_) {
      if (!gate()) return ChanOp::kLost;
      ++reserved_;
      ++senders_;  // rule 5: a permit counts as a sender
      add_ref();   // the permit's handle reference (rule 8)
      return ChanOp::kDone;
    }
    return ChanOp::kWouldWait;
  }

  // A permit delivers its value into its reserved slot (never waits).
  void permit_send(T v) noexcept {
    std::optional<T> dropped;
    {
      WakeChain wakes;
      std::unique_lock<SpinLock> g(mu_);
      --reserved_;
      if (receivers_ == 0) {
        dropped.emplace(std::move(v));  // nobody can ever receive it; destroyed outside the lock
      } else {
        deliver_reserved_locked(v, wakes);
      }
      --senders_;
      settle_receivers_locked(wakes);
      g.unlock();
    }
    release();
  }
  // A permit dropped unused returns its slot (to the first waiting sender, if any).
  void permit_return() noexcept {
    {
      WakeChain wakes;
      std::unique_lock<SpinLock> g(mu_);
      --reserved_;
      fill_from_senders_locked(wakes);
      --senders_;
      settle_receivers_locked(wakes);
      g.unlock();
    }
    release();
  }

  void unlink(Waiter* w, bool send_side) noexcept {
    std::lock_guard<SpinLock> g(mu_);
    (send_side ? send_waiters_ : recv_waiters_).remove(w);
  }

  std::size_t capacity() const noexcept { return cap_; }
  // For monitors (ChannelGauge): a few loads under the lock.
  ChannelStats stats() noexcept {
    std::lock_guard<SpinLock> g(mu_);
    return ChannelStats{.capacity = cap_,
                        .len = len_,
                        .waiting_senders = send_waiters_.size(),
                        .waiting_receivers = recv_waiters_.size(),
                        .senders = senders_,
                        .receivers = receivers_,
                        .closed = rx_closed_};
  }
  std::size_t len() noexcept {
    std::lock_guard<SpinLock> g(mu_);
    return len_;
  }
  bool rx_closed() noexcept {
    std::lock_guard<SpinLock> g(mu_);
    return rx_closed_;
  }
  // Receiver only (rule 9).
  bool drained_and_closed() noexcept {
    WakeChain wakes;
    std::lock_guard<SpinLock> g(mu_);
    if (claim_taken_ > 0) {
      release_claim_locked();
      fill_from_senders_locked(wakes);
    }
    return drained_and_closed_locked();
  }

  void push_send_waiter_locked(Waiter* w) noexcept { send_waiters_.push_back(w); }
  void push_recv_waiter_locked(Waiter* w) noexcept { recv_waiters_.push_back(w); }

  SpinLock mu_;

 private:
  // Delivers a permit's value: to a waiting receiver, else into the reserved slot (rule 2).
  void deliver_reserved_locked(T& v, WakeChain& wakes) noexcept {
    if (len_ == 0) {
      if (Waiter* w = recv_waiters_.pop_notify()) {
        static_cast<RecvNode<T>*>(w)->value.emplace(std::move(v));
        wakes.add(w);
        return;
      }
    }
    push(std::move(v));
  }

  // Rule 3: gives free slots to waiting senders and reservers, first come first served.
  void fill_from_senders_locked(WakeChain& wakes) noexcept {
    while (!rx_closed_ && len_ + reserved_ < cap_) {
      Waiter* w = send_waiters_.pop_notify();
      if (!w) return;
      auto* s = static_cast<SendNode<T>*>(w);
      if (s->value) {
        if (len_ == 0) {
          // Possible only when every slot was reserved: a waiting receiver may take it directly.
          if (Waiter* r = recv_waiters_.pop_notify()) {
            static_cast<RecvNode<T>*>(r)->value.emplace(std::move(*s->value));
            wakes.add(r);
            s->outcome = SendNode<T>::kSent;
            wakes.add(w);
            continue;
          }
        }
        push(std::move(*s->value));
        s->outcome = SendNode<T>::kSent;
      } else {
        ++reserved_;
        ++senders_;
        add_ref();
        s->outcome = SendNode<T>::kGranted;
      }
      wakes.add(w);
    }
  }

  // Rule 5, receiver side.
  void settle_receivers_locked(WakeChain& wakes) noexcept {
    if (!drained_and_closed_locked()) return;
    while (Waiter* w = recv_waiters_.pop_notify()) wakes.add(w);  // value stays nullopt: closed
  }

  // Rule 5, sender side.
  void close_locked(WakeChain& wakes) noexcept {
    rx_closed_ = true;
    while (Waiter* w = send_waiters_.pop_notify()) {
      static_cast<SendNode<T>*>(w)->outcome = SendNode<T>::kClosed;
      wakes.add(w);
    }
    settle_receivers_locked(wakes);
  }

  // Rule 9: frees the slots of the claimed values the receiver has taken.
  void release_claim_locked() noexcept {
    head_ += claim_taken_;
    if (head_ >= cap_) head_ -= cap_;
    len_ -= claim_taken_;
    claim_taken_ = 0;
  }

  bool drained_and_closed_locked() const noexcept {
    return len_ == 0 && reserved_ == 0 && (rx_closed_ || senders_ == 0);
  }

  void push(T&& v) noexcept {
    std::size_t i = head_ + len_;
    if (i >= cap_) i -= cap_;
    // SAFETY: slot i is outside [head_, head_ + len_), so it holds no object.
    ::new (static_cast<void*>(buf_ + i)) T(std::move(v));
    ++len_;
  }
  T pop() noexcept {
    // SAFETY: len_ > 0, so slot head_ holds a live object; it is destroyed right after the move.
    T* p = std::launder(buf_ + head_);
    T v(std::move(*p));
    p->~T();
    if (++head_ == cap_) head_ = 0;
    --len_;
    return v;
  }

  static constexpr std::size_t kMaxBatch = 32;

  // Constant after construction
  const std::size_t cap_;
  T* const buf_;
  const std::size_t batch_;  // rule 9; 0 for mpmc
  // Atomic: rule 8
  Atomic<std::size_t> refs_{0};
  // Guarded by mu_
  std::size_t head_ = 0;
  std::size_t len_ = 0;
  std::size_t reserved_ = 0;
  std::size_t senders_ = 1;
  std::size_t receivers_;
  bool rx_closed_ = false;
  WaitList recv_waiters_;
  WaitList send_waiters_;
  // Access: only by the (single) receiver; see rule 9
  std::size_t claim_left_ = 0;   // claimed values not yet taken
  std::size_t claim_taken_ = 0;  // taken, slots not yet released
};

// ---- awaiters ----

// Outcome of an awaiter that completed in await_suspend (not through a notifier).
enum class Immediate : std::uint8_t { kNone, kDone, kClosed, kCancelled };

// send(): waits for room, then enqueues the value it owns.
template <class T>
class [[nodiscard]] SendAwaiter {
 public:
  SendAwaiter(BoundedChannel<T>* ch, T value) noexcept : ch_(ch), value_(std::move(value)) {}
  // Only before the awaiter is awaited (select() moves its arguments into branch tasks).
  SendAwaiter(SendAwaiter&& o) noexcept : ch_(o.ch_), value_(std::move(o.value_)) {}
  SendAwaiter& operator=(SendAwaiter&&) = delete;
  ~SendAwaiter() {
    if (published_) ch_->unlink(&node_, true);  // waiter.hpp rule 3
    disarm(node_);
  }

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    TaskHeader* self = current_task();
    if (!self) throw Error("send() awaited outside a tether task");
    WakeChain wakes;
    ch_->mu_.lock();
    ChanOp r = ch_->send_locked(value_, wakes, may_consume);
    if (r == ChanOp::kDone || r == ChanOp::kClosed) {
      ch_->mu_.unlock();
      immediate_ = r == ChanOp::kDone ? Immediate::kDone : Immediate::kClosed;
      wakes.wake_all();
      return yield_if_budget_spent(self, h);
    }
    self->waiting_on = "send";
    node_.value = &value_;
    if (!arm_current(node_, h)) {  // already cancelled: nothing was queued
      ch_->mu_.unlock();
      immediate_ = Immediate::kCancelled;
      return false;
    }
    if (r == ChanOp::kWouldWait) {
      ch_->push_send_waiter_locked(&node_);
      published_ = true;
    }  // kLost: wait unqueued for select's cancellation (rule 7)
    ch_->mu_.unlock();
    return true;
  }
  Expected<void, SendError<T>> await_resume() {
    if (immediate_ == Immediate::kNone) {
      disarm(node_);
      current_task()->waiting_on = nullptr;
      if (node_.state() != Waiter::kNotified) {
        if (published_) ch_->unlink(&node_, true);
        published_ = false;
        throw Cancelled();
      }
      published_ = false;  // the notifier unlinked it
      immediate_ = node_.outcome == SendNode<T>::kSent ? Immediate::kDone : Immediate::kClosed;
    }
    if (immediate_ == Immediate::kCancelled) throw Cancelled();
    if (immediate_ == Immediate::kClosed) {
      return Expected<void, SendError<T>>::failure(SendError<T>{std::move(value_)});
    }
    return Expected<void, SendError<T>>::success();
  }

  // The value, if it was not sent (after a cancellation or timeout).
  T take_value() noexcept { return std::move(value_); }

 private:
  BoundedChannel<T>* ch_;
  T value_;
  SendNode<T> node_;
  Immediate immediate_ = Immediate::kNone;
  bool published_ = false;
};

// recv(): waits for a value, or for the channel to be closed and drained.
template <class T>
class [[nodiscard]] RecvAwaiter {
 public:
  explicit RecvAwaiter(BoundedChannel<T>* ch) noexcept : ch_(ch) {}
  // Only before the awaiter is awaited (select() moves its arguments into branch tasks).
  RecvAwaiter(RecvAwaiter&& o) noexcept : ch_(o.ch_) {}
  RecvAwaiter& operator=(RecvAwaiter&&) = delete;
  ~RecvAwaiter() {
    if (published_) ch_->unlink(&node_, false);  // waiter.hpp rule 3
    disarm(node_);
  }

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    TaskHeader* self = current_task();
    if (!self) throw Error("recv() awaited outside a tether task");
    ChanOp r = ch_->take_claimed(node_.value, may_consume);  // rule 9: no lock
    if (r == ChanOp::kDone) {
      immediate_ = Immediate::kDone;
      return yield_if_budget_spent(self, h);
    }
    WakeChain wakes;
    ch_->mu_.lock();
    if (r != ChanOp::kLost) r = ch_->recv_locked(node_.value, wakes, may_consume);
    if (r == ChanOp::kDone || r == ChanOp::kClosed) {
      ch_->mu_.unlock();
      immediate_ = Immediate::kDone;  // node_.value holds the value, or nullopt when closed
      wakes.wake_all();
      return yield_if_budget_spent(self, h);
    }
    self->waiting_on = "recv";
    if (!arm_current(node_, h)) {
      ch_->mu_.unlock();
      immediate_ = Immediate::kCancelled;
      return false;
    }
    if (r == ChanOp::kWouldWait) {
      ch_->push_recv_waiter_locked(&node_);
      published_ = true;
    }  // kLost: wait unqueued for select's cancellation (rule 7)
    ch_->mu_.unlock();
    return true;
  }
  std::optional<T> await_resume() {
    if (immediate_ == Immediate::kNone) {
      disarm(node_);
      current_task()->waiting_on = nullptr;
      if (node_.state() != Waiter::kNotified) {
        // Cancelled: a sender that saw our node failed its claim and kept its value (rule 2).
        if (published_) ch_->unlink(&node_, false);
        published_ = false;
        throw Cancelled();
      }
      published_ = false;  // the notifier unlinked it
    } else if (immediate_ == Immediate::kCancelled) {
      throw Cancelled();
    }
    return std::move(node_.value);
  }

 private:
  BoundedChannel<T>* ch_;
  RecvNode<T> node_;
  Immediate immediate_ = Immediate::kNone;
  bool published_ = false;
};

// reserve(): waits for a free slot and takes it. await_resume_raw() gives the channel pointer the
// Permit adopts (with its sender count and reference already taken), or null when closed.
template <class T>
class [[nodiscard]] ReserveAwaiterBase {
 public:
  explicit ReserveAwaiterBase(BoundedChannel<T>* ch) noexcept : ch_(ch) {}
  ReserveAwaiterBase(ReserveAwaiterBase&& o) noexcept : ch_(o.ch_) {}
  ReserveAwaiterBase& operator=(ReserveAwaiterBase&&) = delete;
  ~ReserveAwaiterBase() {
    if (published_) ch_->unlink(&node_, true);
    disarm(node_);
  }

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    TaskHeader* self = current_task();
    if (!self) throw Error("reserve() awaited outside a tether task");
    ch_->mu_.lock();
    ChanOp r = ch_->reserve_locked(may_consume);
    if (r == ChanOp::kDone || r == ChanOp::kClosed) {
      ch_->mu_.unlock();
      immediate_ = r == ChanOp::kDone ? Immediate::kDone : Immediate::kClosed;
      return yield_if_budget_spent(self, h);
    }
    self->waiting_on = "reserve";
    if (!arm_current(node_, h)) {
      ch_->mu_.unlock();
      immediate_ = Immediate::kCancelled;
      return false;
    }
    if (r == ChanOp::kWouldWait) {
      ch_->push_send_waiter_locked(&node_);
      published_ = true;
    }
    ch_->mu_.unlock();
    return true;
  }
  // Returns the granted channel (the caller wraps it in a Permit) or null when closed.
  BoundedChannel<T>* await_resume_raw() {
    if (immediate_ == Immediate::kNone) {
      disarm(node_);
      current_task()->waiting_on = nullptr;
      if (node_.state() != Waiter::kNotified) {
        if (published_) ch_->unlink(&node_, true);
        published_ = false;
        throw Cancelled();  // nothing was granted: a granter's claim would have failed
      }
      published_ = false;
      immediate_ = node_.outcome == SendNode<T>::kGranted ? Immediate::kDone : Immediate::kClosed;
    }
    if (immediate_ == Immediate::kCancelled) throw Cancelled();
    return immediate_ == Immediate::kDone ? ch_ : nullptr;
  }

 private:
  BoundedChannel<T>* ch_;
  SendNode<T> node_;
  Immediate immediate_ = Immediate::kNone;
  bool published_ = false;
};

// Lets an awaiter that lives in the caller's frame be awaited through a wrapper that takes its
// argument by value (timeout_at), so the caller can still read it afterwards.
template <class A>
struct AwaitRef {
  A* a;
  bool await_ready() const noexcept { return a->await_ready(); }
  bool await_suspend(std::coroutine_handle<> h) { return a->await_suspend(h); }
  decltype(auto) await_resume() { return a->await_resume(); }
};

}  // namespace tether::detail

// Internal; not part of the public API.
//
// RawMutex: the lock behind Mutex<T>, untyped. One atomic word for the uncontended path, a FIFO
// queue of LockRequests for the contended one, direct hand-off (never wake-then-fail), and
// combining: a `with()` closure that had to queue may be run by the task that holds the lock, on
// its behalf, so a contended critical section costs one wake and no lock hand-off (flat combining,
// Hendler, Incze, Shavit, Tzafrir, "Flat Combining and the Synchronization-Parallelism Tradeoff",
// SPAA 2010). That is what keeps a hot mutex from turning into a convoy where every acquisition is
// a task switch.
//
// State word `state_` (Atomic: see protocol):
//   0                 unlocked, nobody queued
//   kLocked           locked, nobody queued
//   kLocked|kQueued   locked, the queue may hold requests (only changed under qmu_)
//   |kHandoff         the lock was handed to a parked task that has not resumed yet: spinning is
//                     pointless (the owner is not running), so lockers park at once. Set by the
//                     releaser under qmu_, cleared by the new owner when it resumes.
//   Invariant: kQueued and kHandoff imply kLocked. Requests are queued only while the lock is held, and the
//   releaser clears the word to 0 only after finding the queue empty, under qmu_.
//
// Protocol:
//  1. try_lock: CAS 0 -> kLocked (acquire). One atomic; no fairness issue since nobody is queued.
//     Spinning (try_lock_spin, sparse polls) retries only while the word is exactly kLocked: once
//     anyone is queued, newcomers queue behind them (FIFO: no barging past a waiter).
//  2. enqueue (under qmu_): CAS 0 -> kLocked (acquired after all) or kLocked -> kLocked|kQueued,
//     then link the request at the tail with `park` = kSpinning (not armed: cancellation cannot
//     reach it yet). The requester then spins on `park` for a while (wait_queued): the holder is
//     running on another worker (with() closures cannot suspend) and serves it in nanoseconds,
//     so most contended acquisitions never suspend. If the spin runs out, under qmu_: if `park`
//     is still kSpinning, set kParked and arm the waiter (arm_current): from then on the request
//     is served like any waiter (claim_notify + wake). If the holder already took it (kClaimed
//     or kDone), spin on until kDone (the holder is mid-hand-off).
//  3. unlock: CAS kLocked -> 0 (release). If kQueued is set, take qmu_ and pop the head request:
//     a kSpinning one is taken by setting kClaimed (under qmu_, so it cannot park meanwhile); a
//     kParked one only if its waiter accepts (claim_notify; cancelled ones are skipped). If the
//     queue is then empty, kQueued is cleared (the lock stays held). With qmu_ released:
//       a. a closure request (run != null), up to kCombineLimit per unlock: run its closure under
//          the lock we still hold, mark it `ran`, then complete it (store kDone with release for a
//          spinner; wake a parked one) and go back to 3;
//       b. otherwise hand the lock over: complete it likewise; it owns the lock now.
//     After completing a request the releaser never touches it again (its owner may return).
//     If no request can be taken, store 0 (release) under qmu_.
//  4. A cancelled request unlinks itself under qmu_ in await_resume and clears kQueued if the
//     queue became empty; a request that already accepted (rule 3) cannot be cancelled.
//  Memory ordering: everything a holder wrote before unlock is visible to the next holder: via
//  the release store / acquire CAS on `state_` (rule 1, 3), or, on hand-off and combining, via the
//  waiter claim (acq_rel) and the task wake (whose state CAS is acq_rel).
#pragma once

#include <coroutine>
#include <cstdint>

#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/detail/task_header.hpp"
#include "tether/core/detail/waiter.hpp"

namespace tether::detail {

// A task's place in a RawMutex queue; lives in the awaiter. It is the Waiter the queue links, so
// the queue's Waiter* converts back with a static_cast.
struct LockRequest : Waiter {
  // A with() closure the holder may run for us (rule 3a); null for a guard acquisition. Called
  // with the lock held; must not throw (the awaiter catches the closure's exception).
  void (*run)(LockRequest*) noexcept = nullptr;
  void* ctx = nullptr;  // for `run`: the awaiter that owns the request
  // Written by the holder before the wake (rule 3a); read by the woken task after it.
  bool ran = false;
  enum : std::uint8_t { kSpinning, kClaimed, kDone, kParked };
  // Rule 2/3. Changed under qmu_, except the holder's final kClaimed -> kDone (release; the
  // spinning requester reads it with acquire).
  Atomic<std::uint8_t> park{kSpinning};
};

class RawMutex {
 public:
  static constexpr std::uint32_t kLocked = 1;
  static constexpr std::uint32_t kQueued = 2;
  static constexpr std::uint32_t kHandoff = 4;
  // try_lock_spin: kSpinLimit polls, kSpinFirstPauses pauses before the first and kSpinPauses
  // before each other (~10 µs in all where a pause takes ~20 ns; a with() holder cannot suspend,
  // so it releases soon). Why sparse: raw_mutex.cpp.
  static constexpr int kSpinLimit = 8;
  static constexpr int kSpinFirstPauses = 8;
  static constexpr int kSpinPauses = 64;
  static constexpr int kCombineLimit = 8192;  // bounds the extra latency of the combining holder (~8k short closures)
  static constexpr int kQueueSpinLimit = 256;

  RawMutex() noexcept = default;
  RawMutex(const RawMutex&) = delete;
  RawMutex& operator=(const RawMutex&) = delete;

  // Rule 1.
  bool try_lock() noexcept {
    std::uint32_t expected = 0;
    // acquire: pairs with the release in unlock(); relaxed on failure: nothing was read.
    return state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire, std::memory_order_relaxed);
  }
  // Rule 1: a bounded spin while the lock is held and nobody is queued (the holder runs on another
  // worker and is about to release: parking would cost more than waiting).
  bool try_lock_spin() noexcept;
  bool is_locked() const noexcept {
    return state_.load(std::memory_order_relaxed) != 0;  // relaxed: a diagnostic snapshot
  }

  enum class Enqueued { kAcquired, kQueued };
  // Rule 2, first half. kQueued: call wait_queued() next.
  Enqueued lock_or_enqueue(LockRequest* r) noexcept;
  enum class Queued { kDone, kSuspend, kCancelled };
  // Rule 2, second half. kDone: served without suspending (r->ran says whether the closure ran or
  // the lock was handed over). kSuspend: armed; the caller must suspend. kCancelled: the task is
  // cancelled; the request was withdrawn and its waiter claimed as cancelled.
  Queued wait_queued(LockRequest* r, std::coroutine_handle<> h) noexcept;
  // Rule 4 (also for awaiters destroyed while queued).
  void remove(LockRequest* r) noexcept;

  // The new owner after a hand-off to a parked task, when it resumes (kHandoff above).
  void clear_handoff() noexcept {
    state_.fetch_and(~kHandoff, std::memory_order_relaxed);  // relaxed: a spinning hint only
  }

  // Lock statistics for monitors: acquisitions that had to queue (rule 2) and the time they spent
  // queued. Only the contended path pays for them.
  void record_wait(std::uint64_t ns) noexcept {
    // relaxed: statistics only; nothing is published through them.
    contended_.fetch_add(1, std::memory_order_relaxed);
    wait_ns_.fetch_add(ns, std::memory_order_relaxed);
  }
  std::uint64_t contended() const noexcept { return contended_.load(std::memory_order_relaxed); }
  std::uint64_t wait_ns() const noexcept { return wait_ns_.load(std::memory_order_relaxed); }

  // Rule 3.
  void unlock() noexcept {
    std::uint32_t expected = kLocked;
    // release: pairs with the acquire in try_lock(); relaxed on failure: the slow path takes qmu_.
    if (state_.compare_exchange_strong(expected, 0, std::memory_order_release, std::memory_order_relaxed)) return;
    unlock_slow();
  }

 private:
  void unlock_slow() noexcept;

  // Atomic: see protocol above
  Atomic<std::uint32_t> state_{0};
  // Atomic: statistics (record_wait)
  Atomic<std::uint64_t> contended_{0};
  Atomic<std::uint64_t> wait_ns_{0};
  SpinLock qmu_;
  // Guarded by qmu_
  WaitList queue_;
};

}  // namespace tether::detail

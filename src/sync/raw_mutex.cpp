// RawMutex; the protocol is in include/tether/sync/detail/raw_mutex.hpp (rule numbers below).
#include "tether/sync/detail/raw_mutex.hpp"

#include <mutex>
#include <thread>

namespace tether::detail {

namespace {
LockRequest* request_of(Waiter* w) noexcept {
  // SAFETY: every Waiter in a RawMutex queue is a LockRequest (rule 2).
  return static_cast<LockRequest*>(w);
}
}  // namespace

bool RawMutex::try_lock_spin() noexcept {
  // Polls sparsely. Every poll pulls the lock's cache line away from the holder's core, and every
  // poll that finds the lock free between two of the holder's acquisitions moves ownership to this
  // core: with a poll per pause, two workers looping on one lock swapped ownership every ~2.5
  // acquisitions, each swap a pair of cache-line transfers (~400k swaps per 1M acquisitions,
  // counted in the peer suite's mutex workload). Polling every kSpinPauses pauses lets the holder
  // run on alone for dozens of acquisitions (~10-20k swaps per 1M). The first poll comes sooner
  // (kSpinFirstPauses), for a lock that is only briefly busy (a holder finishing its closure).
  for (int i = 0; i < kSpinLimit; ++i) {
    for (int k = 0, n = i == 0 ? kSpinFirstPauses : kSpinPauses; k < n; ++k) cpu_relax();
    // relaxed: a hint; the CAS in try_lock() acquires.
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    if (s == 0) {
      if (try_lock()) return true;
    } else if (s & (kQueued | kHandoff)) {
      return false;  // rule 1: someone is queued; we go behind them
    }
  }
  return false;
}

RawMutex::Enqueued RawMutex::lock_or_enqueue(LockRequest* r) noexcept {
  std::lock_guard<SpinLock> g(qmu_);
  // relaxed load: the CAS below re-checks.
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if (s == 0) {
      // acquire: pairs with the release in unlock() (rule 2).
      if (state_.compare_exchange_weak(s, kLocked, std::memory_order_acquire, std::memory_order_relaxed)) {
        return Enqueued::kAcquired;
      }
    } else if (s & kQueued) {
      break;  // already marked; only qmu_ holders change kQueued, and we hold it
    } else if (state_.compare_exchange_weak(s, kLocked | kQueued, std::memory_order_relaxed,
                                            std::memory_order_relaxed)) {
      // relaxed: the mark only diverts the holder's unlock() to the slow path, which takes qmu_;
      // qmu_ orders everything the request carries.
      break;
    }
  }
  r->ran = false;
  r->task = current_task();                                          // claim_notify() needs it (select groups)
  r->park.store(LockRequest::kSpinning, std::memory_order_relaxed);  // relaxed: under qmu_
  queue_.push_back(r);
  return Enqueued::kQueued;
}

namespace {
// Spins until the holder completes a request it took (rule 2: it is mid-hand-off).
void spin_until_done(LockRequest* r) noexcept {
  // acquire: pairs with the holder's release store of kDone (rule 3).
  for (int i = 0; r->park.load(std::memory_order_acquire) != LockRequest::kDone; ++i) {
    if (i < 1024) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}
}  // namespace

RawMutex::Queued RawMutex::wait_queued(LockRequest* r, std::coroutine_handle<> h) noexcept {
  for (int i = 0; i < kQueueSpinLimit; ++i) {
    // acquire: pairs with the holder's release store of kDone (rule 3).
    if (r->park.load(std::memory_order_acquire) == LockRequest::kDone) return Queued::kDone;
    // relaxed: a hint; the owner is not running, so waiting for it by spinning is pointless.
    if (state_.load(std::memory_order_relaxed) & kHandoff) break;
    cpu_relax();
  }
  {
    std::lock_guard<SpinLock> g(qmu_);
    // relaxed: under qmu_, which the holder also holds when it claims (rule 2).
    if (r->park.load(std::memory_order_relaxed) == LockRequest::kSpinning) {
      r->park.store(LockRequest::kParked, std::memory_order_relaxed);
      if (arm_current(*r, h)) return Queued::kSuspend;
      // Cancelled: nobody claimed the waiter (claims of kParked requests happen under qmu_).
      queue_.remove(r);
      r->claim_cancel();
      if (queue_.empty()) state_.fetch_and(~kQueued, std::memory_order_relaxed);  // rule 4; under qmu_
      return Queued::kCancelled;
    }
  }
  spin_until_done(r);
  return Queued::kDone;
}

void RawMutex::remove(LockRequest* r) noexcept {
  std::lock_guard<SpinLock> g(qmu_);
  if (!r->linked) return;
  queue_.remove(r);
  if (queue_.empty()) state_.fetch_and(~kQueued, std::memory_order_relaxed);  // rule 4; relaxed: under qmu_
}

void RawMutex::unlock_slow() noexcept {
  for (int combined = 0;;) {
    LockRequest* next = nullptr;
    bool spinning = false;
    bool combine = false;
    {
      std::lock_guard<SpinLock> g(qmu_);
      while (Waiter* w = queue_.pop_front()) {
        LockRequest* r = request_of(w);
        // relaxed: under qmu_ (rule 2).
        if (r->park.load(std::memory_order_relaxed) == LockRequest::kSpinning) {
          r->park.store(LockRequest::kClaimed, std::memory_order_relaxed);
          next = r;
          spinning = true;
          break;
        }
        if (w->claim_notify()) {
          next = r;
          break;
        }
        // cancelled: skip it
      }
      if (!next) {
        // release: pairs with the acquire of the next try_lock() (rule 3).
        state_.store(0, std::memory_order_release);
        return;
      }
      combine = next->run && combined < kCombineLimit;
      // relaxed: under qmu_; the lock stays held by us or by `next`. Only the owner (us) changes
      // kHandoff and stores the word; others only CAS or clear kQueued under qmu_.
      std::uint32_t s = kLocked;
      if (!queue_.empty()) s |= kQueued;
      if (!combine && !spinning) s |= kHandoff;
      state_.store(s, std::memory_order_relaxed);
    }
    if (combine) {
      ++combined;
      next->run(next);  // rule 3a: under the lock we still hold
      next->ran = true;
    }
    // Complete it (rule 3); `next` may be gone right after.
    if (spinning) {
      next->park.store(LockRequest::kDone, std::memory_order_release);  // release: pairs with wait_queued()
    } else {
      next->wake();
    }
    if (!combine) return;  // rule 3b: it owns the lock now
  }
}

}  // namespace tether::detail

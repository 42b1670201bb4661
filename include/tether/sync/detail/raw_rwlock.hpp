// Internal; not part of the public API.
//
// RawRwLock: the lock behind RwLock<T>. A SpinLock guards the counts and a FIFO queue of requests
// (each marked read or write); the critical sections are a few instructions.
//
// Protocol:
//  1. A reader enters at once iff no writer holds the lock and nobody is queued; a writer iff the
//     lock is free and nobody is queued. Otherwise it queues (FIFO: a reader that arrives behind a
//     queued writer waits for it, so writers are not starved by a stream of readers).
//  2. grant (under mu_, on every release and when a cancelled head leaves): pop from the head while
//     the head can enter: a writer when nothing is held; a run of readers while no writer holds.
//     Each popped request that accepts (claim_notify) is counted in before it is woken (hand-off:
//     it never wakes to find the lock taken); a cancelled one is skipped and takes nothing.
//  3. A cancelled request unlinks itself under mu_; if it was the head, grant runs again.
#pragma once

#include <coroutine>
#include <cstddef>

#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/detail/task_header.hpp"
#include "tether/core/detail/waiter.hpp"

namespace tether::detail {

// A task's place in a RawRwLock queue; lives in the awaiter. It is the Waiter the queue links.
struct RwRequest : Waiter {
  bool write = false;
};

class RawRwLock {
 public:
  bool try_read() noexcept;
  bool try_write() noexcept;
  enum class Enqueued { kAcquired, kQueued, kCancelled };
  Enqueued lock_or_enqueue(RwRequest* r, std::coroutine_handle<> h) noexcept;
  void remove(RwRequest* r) noexcept;  // rule 3
  void unlock_read() noexcept;
  void unlock_write() noexcept;
  std::size_t readers() const noexcept;
  bool write_locked() const noexcept;

 private:
  void grant_and_unlock() noexcept;  // rule 2; releases mu_, then wakes

  mutable SpinLock mu_;
  // Guarded by mu_
  std::size_t readers_ = 0;
  bool writer_ = false;
  WaitList queue_;
};

}  // namespace tether::detail

// RawRwLock; the protocol is in include/tether/sync/detail/raw_rwlock.hpp (rule numbers below).
#include "tether/sync/detail/raw_rwlock.hpp"

#include <cstddef>
#include <mutex>

namespace tether::detail {

bool RawRwLock::try_read() noexcept {
  std::lock_guard<SpinLock> g(mu_);
  if (writer_ || !queue_.empty()) return false;  // rule 1
  ++readers_;
  return true;
}

bool RawRwLock::try_write() noexcept {
  std::lock_guard<SpinLock> g(mu_);
  if (writer_ || readers_ || !queue_.empty()) return false;  // rule 1
  writer_ = true;
  return true;
}

RawRwLock::Enqueued RawRwLock::lock_or_enqueue(RwRequest* r, std::coroutine_handle<> h) noexcept {
  std::lock_guard<SpinLock> g(mu_);
  if (queue_.empty() && !writer_ && (!r->write || readers_ == 0)) {
    if (r->write) {
      writer_ = true;
    } else {
      ++readers_;
    }
    return Enqueued::kAcquired;
  }
  queue_.push_back(r);
  if (arm_current(*r, h)) return Enqueued::kQueued;
  queue_.remove(r);  // nobody else saw it
  r->claim_cancel();
  return Enqueued::kCancelled;
}

void RawRwLock::remove(RwRequest* r) noexcept {
  mu_.lock();
  if (!r->linked) {
    mu_.unlock();
    return;
  }
  const bool was_head = queue_.front() == r;
  queue_.remove(r);
  if (!was_head) {
    mu_.unlock();
    return;
  }
  grant_and_unlock();  // rule 3
}

void RawRwLock::unlock_read() noexcept {
  mu_.lock();
  --readers_;
  grant_and_unlock();
}

void RawRwLock::unlock_write() noexcept {
  mu_.lock();
  writer_ = false;
  grant_and_unlock();
}

void RawRwLock::grant_and_unlock() noexcept {
  WaitList woken;
  while (Waiter* w = queue_.front()) {
    // SAFETY: every waiter in queue_ is an RwRequest.
    auto* r = static_cast<RwRequest*>(w);
    if (writer_ || (r->write && readers_ != 0)) break;
    queue_.remove(w);
    if (!w->claim_notify()) continue;  // cancelled: takes nothing
    if (r->write) {
      writer_ = true;
    } else {
      ++readers_;
    }
    woken.push_back(w);
  }
  mu_.unlock();
  // The popped waiters accepted, so nothing else touches their links now.
  while (Waiter* w = woken.pop_front()) w->wake();
}

std::size_t RawRwLock::readers() const noexcept {
  std::lock_guard<SpinLock> g(mu_);
  return readers_;
}

bool RawRwLock::write_locked() const noexcept {
  std::lock_guard<SpinLock> g(mu_);
  return writer_;
}

}  // namespace tether::detail

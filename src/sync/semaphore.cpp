// Semaphore; the protocol is in include/tether/sync/semaphore.hpp.
#include "tether/sync/semaphore.hpp"

#include <mutex>

#include "tether/core/error.hpp"

namespace tether::sync {

using tether::detail::SpinLock;
using tether::detail::Waiter;

namespace {
constexpr std::size_t kWakeBatch = 32;
}

std::optional<Semaphore::Permit> Semaphore::try_acquire(std::size_t n) noexcept {
  std::lock_guard<SpinLock> g(mu_);
  if (closed_ || !queue_.empty() || permits_ < n) return std::nullopt;
  permits_ -= n;
  return std::optional<Permit>(std::in_place, this, n);
}

void Semaphore::grant_locked(Waiter** wake, std::size_t& n_wake, std::size_t cap) noexcept {
  while (n_wake < cap) {
    Waiter* w = queue_.front();
    if (!w) return;
    // SAFETY: every waiter in queue_ is a Request.
    auto* r = static_cast<Request*>(w);
    if (r->n > permits_) return;  // FIFO: the head waits, and so does everyone behind it
    queue_.remove(w);
    if (!w->claim_notify()) continue;  // cancelled: it takes nothing
    permits_ -= r->n;
    wake[n_wake++] = w;
  }
}

void Semaphore::release(std::size_t n) noexcept {
  Waiter* wake[kWakeBatch];
  for (;;) {
    std::size_t n_wake = 0;
    bool more;
    {
      std::lock_guard<SpinLock> g(mu_);
      permits_ += n;
      n = 0;
      grant_locked(wake, n_wake, kWakeBatch);
      more = n_wake == kWakeBatch;
    }
    for (std::size_t i = 0; i < n_wake; ++i) wake[i]->wake();
    if (!more) return;
  }
}

void Semaphore::close() noexcept {
  for (;;) {
    Waiter* wake[kWakeBatch];
    std::size_t n_wake = 0;
    {
      std::lock_guard<SpinLock> g(mu_);
      closed_ = true;
      while (n_wake < kWakeBatch) {
        Waiter* w = queue_.pop_front();
        if (!w) break;
        static_cast<Request*>(w)->closed = true;  // SAFETY: as in grant_locked
        if (w->claim_notify()) wake[n_wake++] = w;
      }
    }
    for (std::size_t i = 0; i < n_wake; ++i) wake[i]->wake();
    if (n_wake < kWakeBatch) return;
  }
}

bool Semaphore::is_closed() const noexcept {
  std::lock_guard<SpinLock> g(mu_);
  return closed_;
}

std::size_t Semaphore::available_permits() const noexcept {
  std::lock_guard<SpinLock> g(mu_);
  return permits_;
}

Semaphore::AcquireAwaiter::~AcquireAwaiter() {
  if (req_.linked) {
    std::lock_guard<SpinLock> g(s_.mu_);
    s_.queue_.remove(&req_);
  }
  tether::detail::disarm(req_);
}

namespace {
// A cancelled task takes the slow path, which throws Cancelled (so a loop of acquires that never
// has to wait still notices its cancellation).
bool task_cancelled() noexcept {
  tether::detail::TaskHeader* t = tether::detail::current_task();
  return t && t->scope->is_cancelled();
}
}  // namespace

bool Semaphore::AcquireAwaiter::await_ready() {
  if (task_cancelled()) return false;
  std::lock_guard<SpinLock> g(s_.mu_);
  if (s_.closed_) return true;  // await_resume throws Closed
  if (!s_.queue_.empty() || s_.permits_ < req_.n || !tether::detail::may_consume()) return false;
  s_.permits_ -= req_.n;
  granted_ = true;
  return true;
}

bool Semaphore::AcquireAwaiter::await_suspend(std::coroutine_handle<> h) {
  tether::detail::TaskHeader* self = tether::detail::current_task();
  if (!self) throw Error("Semaphore::acquire() had to wait outside a tether task");
  if (task_cancelled()) {
    req_.claim_cancel();  // not published anywhere: await_resume throws Cancelled
    return false;
  }
  if (!tether::detail::may_consume()) {
    // A select branch that lost: wait for the cancellation on its way (waiter.hpp rule 4).
    if (!tether::detail::arm_current(req_, h)) req_.claim_cancel();
    return req_.state() != Waiter::kCancelled;
  }
  std::lock_guard<SpinLock> g(s_.mu_);
  if (s_.closed_) return false;
  if (s_.queue_.empty() && s_.permits_ >= req_.n) {  // released meanwhile
    s_.permits_ -= req_.n;
    granted_ = true;
    return false;
  }
  self->waiting_on = "semaphore";
  s_.queue_.push_back(&req_);
  if (tether::detail::arm_current(req_, h)) return true;
  s_.queue_.remove(&req_);
  req_.claim_cancel();
  self->waiting_on = nullptr;
  // Our leaving may let the waiter behind us go (it might fit where we did not).
  return false;
}

Semaphore::Permit Semaphore::AcquireAwaiter::await_resume() {
  if (granted_) return Permit(&s_, req_.n);
  tether::detail::disarm(req_);
  if (tether::detail::TaskHeader* self = tether::detail::current_task()) self->waiting_on = nullptr;
  const Waiter::State st = req_.state();
  if (st == Waiter::kNotified) {
    if (req_.closed) throw Closed();
    return Permit(&s_, req_.n);
  }
  if (st == Waiter::kCancelled) {
    // Leaving the head may unblock the smaller requests behind us. `linked` is read under mu_: a
    // release() may be unlinking this (cancelled) waiter at this moment.
    Waiter* wake[kWakeBatch];
    std::size_t n_wake = 0;
    {
      std::lock_guard<SpinLock> g(s_.mu_);
      if (req_.linked) {
        const bool was_head = s_.queue_.front() == &req_;
        s_.queue_.remove(&req_);
        if (was_head) s_.grant_locked(wake, n_wake, kWakeBatch);
      }
    }
    for (std::size_t i = 0; i < n_wake; ++i) wake[i]->wake();
    throw Cancelled();
  }
  throw Closed();  // never waited: closed before or when we looked
}

}  // namespace tether::sync

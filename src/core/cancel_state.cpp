// The cancellation tree; the protocol is in include/tether/core/detail/cancel_state.hpp.
#include "tether/core/detail/cancel_state.hpp"

#include <vector>

#include "tether/core/detail/task_header.hpp"

namespace tether::detail {

CancelState::CancelState(CancelState* parent, bool shielded) noexcept : shielded_(shielded), parent_(parent) {
  if (!parent_) return;
  parent_->add_ref();  // rule 3
  std::lock_guard<SpinLock> g(parent_->mu_);
  // rule 2: link and inherit the flag in one critical section.
  next_sibling_ = parent_->first_child_;
  if (next_sibling_) next_sibling_->prev_sibling_ = this;
  parent_->first_child_ = this;
  // relaxed: we hold the parent's lock, which orders this read after any cancel() of the parent.
  if (!shielded_ && parent_->cancelled_.load(std::memory_order_relaxed)) {
    cancelled_.store(true, std::memory_order_relaxed);  // not yet shared with any other thread
  }
}

CancelState::~CancelState() {
  // parent_ is null here for a child that detach_dying_children() unlinked: the release that made
  // ours the last reference (acq_rel) follows that write.
  if (parent_) {
    parent_->unlink_child(this);
    parent_->release();  // rule 3
  }
}

void CancelState::detach_dying_children(CancelState* const* children, const std::uint32_t* refs,
                                        std::size_t n) noexcept {
  std::uint32_t detached = 0;
  {
    std::lock_guard<SpinLock> g(mu_);
    for (std::size_t i = 0; i < n; ++i) {
      // relaxed: only the caller's references are left, and no new one can be taken (the child is
      // reachable only through our list, under our lock); the caller's final release orders the rest.
      if (children[i]->refs_.load(std::memory_order_relaxed) != refs[i]) continue;
      unlink_child_locked(children[i]);
      children[i]->parent_ = nullptr;
      ++detached;
    }
  }
  if (detached) release(detached);  // rule 3, for all of them
}

void CancelState::unlink_child(CancelState* c) noexcept {
  std::lock_guard<SpinLock> g(mu_);
  unlink_child_locked(c);
}

void CancelState::unlink_child_locked(CancelState* c) noexcept {
  if (c->prev_sibling_) {
    c->prev_sibling_->next_sibling_ = c->next_sibling_;
  } else {
    first_child_ = c->next_sibling_;
  }
  if (c->next_sibling_) c->next_sibling_->prev_sibling_ = c->prev_sibling_;
  c->prev_sibling_ = c->next_sibling_ = nullptr;
}

void CancelState::cancel() {
  // rule 4, iteratively over the subtree. Each node on the worklist carries a reference we took.
  std::vector<CancelState*> work;
  add_ref();
  work.push_back(this);
  while (!work.empty()) {
    CancelState* node = work.back();
    work.pop_back();
    node->mu_.lock();
    if (node->cancelled_.load(std::memory_order_relaxed)) {
      node->mu_.unlock();
      node->release();
      continue;
    }
    // seq_cst: rule 5's pairing with arm() (and release for is_cancelled()'s acquire).
    node->cancelled_.store(true, std::memory_order_seq_cst);
    node->cancelling_.store(true, std::memory_order_seq_cst);
    if (Waiter* w = node->waiter_.exchange(nullptr, std::memory_order_seq_cst)) {
      // SAFETY: the waiter is alive until cancelling_ clears: its task's disarm() waits for that.
      if (w->claim_cancel()) w->wake();
    }
    node->cancelling_.store(false, std::memory_order_release);  // release: pairs with disarm()'s acquire
    for (CancelState* c = node->first_child_; c; c = c->next_sibling_) {
      if (c->shielded_) continue;
      // A child whose last reference is gone is being destroyed (it unlinks itself under our
      // lock, which we hold): it needs no cancelling, and a reference on it would free it twice.
      if (!c->try_add_ref()) continue;
      work.push_back(c);
    }
    while (CancelCallbackNode* cb = node->callbacks_) {
      node->callbacks_ = cb->next;
      if (cb->next) cb->next->prev = nullptr;
      cb->linked = false;
      cb->running_on = std::this_thread::get_id();
      node->mu_.unlock();
      cb->fn(cb);
      node->mu_.lock();
      // Rule 6: the node may be gone once `done` is set (its owner may destroy it), so we must not
      // touch cb afterwards. running_on is cleared first, under the lock.
      cb->running_on = std::thread::id();
      cb->done.store(true, std::memory_order_release);  // release: pairs with acquire in unregister
    }
    node->mu_.unlock();
    node->release();
  }
}

bool CancelState::arm(Waiter* w) noexcept {
  // Cheap early out; the real check is the seq_cst pair below (rule 5).
  if (cancelled_.load(std::memory_order_acquire)) return false;
  waiter_.store(w, std::memory_order_seq_cst);
  if (!cancelled_.load(std::memory_order_seq_cst)) return true;
  Waiter* expected = w;
  // Cancelled meanwhile: take the waiter back, unless cancel() already took it; then it claims and
  // wakes it, and the caller must suspend to receive that wake (return true).
  return !waiter_.compare_exchange_strong(expected, nullptr, std::memory_order_seq_cst);
}

void CancelState::disarm(Waiter* w) noexcept {
  Waiter* expected = w;
  // acq_rel: the waiter leaves the slot; if the CAS fails, cancel() took it (rule 5).
  if (waiter_.compare_exchange_strong(expected, nullptr, std::memory_order_acq_rel)) return;
  // acquire: pairs with the canceller's release once it is done with the waiter.
  while (cancelling_.load(std::memory_order_acquire)) cpu_relax();
}

bool CancelState::register_callback(CancelCallbackNode* node) noexcept {
  std::lock_guard<SpinLock> g(mu_);
  if (cancelled_.load(std::memory_order_relaxed)) return false;
  node->prev = nullptr;
  node->next = callbacks_;
  if (callbacks_) callbacks_->prev = node;
  callbacks_ = node;
  node->linked = true;
  node->done.store(false, std::memory_order_relaxed);  // published by the unlock of mu_
  return true;
}

void CancelState::unregister_callback(CancelCallbackNode* node) noexcept {
  mu_.lock();
  if (node->linked) {
    if (node->prev) {
      node->prev->next = node->next;
    } else {
      callbacks_ = node->next;
    }
    if (node->next) node->next->prev = node->prev;
    node->linked = false;
    mu_.unlock();
    return;
  }
  bool running_elsewhere = node->running_on != std::thread::id() && node->running_on != std::this_thread::get_id();
  mu_.unlock();
  if (running_elsewhere) {
    // rule 6; acquire: pairs with the release after fn returns.
    while (!node->done.load(std::memory_order_acquire)) std::this_thread::yield();
  }
}

}  // namespace tether::detail

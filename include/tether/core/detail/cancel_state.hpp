// Internal; not part of the public API.
//
// CancelState: one node of the cancellation tree. Every task embeds one (its token), every
// `timeout`, shield and user CancellationToken owns one. Cancelling a node cancels its whole subtree.
//
// Protocol (numbers are referred to in the code):
//  1. `cancelled_` only ever goes false -> true, under `mu_`. Readers may load it without the lock.
//  2. A child links itself into its parent's `children_` list under the parent's `mu_`, and checks
//     the parent's flag in the same critical section, so a child made after its parent was cancelled
//     starts cancelled: no cancellation is lost to a race with creation.
//  3. A child holds a reference on its parent until it is destroyed, so the parent pointer is valid
//     for the child's lifetime; the parent holds no reference on its children (weak, intrusive).
//  4. cancel(): under `mu_`, set the flag, wake the armed waiter (at most one: the task suspended in
//     this scope), take a referenced snapshot of the children, then run the callbacks one at a time
//     with the lock released (std::stop_source style, so a callback may itself use the token), then
//     cancel the children from the snapshot. Work is iterative, so deep trees do not overflow the stack.
//  5. The armed waiter lives in `waiter_` (no lock: arming is on every suspension's hot path).
//     arm() stores it, then loads `cancelled_`; cancel() stores `cancelled_`, then exchanges
//     `waiter_` for null (all seq_cst: one of the two sees the other). A waiter the canceller took
//     is claimed and woken by it; `cancelling_` is set around that, and disarm(), whose CAS finds
//     the waiter gone, spins until it clears, so the awaiter outlives every access the canceller
//     makes. Only one cancel() per node ever runs that step (rule 1), and a scope belongs to one
//     task, so one waiter at a time.
//  6. unregister_callback() waits for a callback running on another thread to return, so after it the
//     callback's captures may be destroyed.
//  Lock order: a primitive's own lock (channel, mutex, timer wheel) may be held while taking `mu_`
//  (arming); nothing is ever locked while `mu_` is held except the scheduler's queues via wake().
#pragma once

#include <cstdint>
#include <thread>

#include "tether/core/detail/sync_shim.hpp"

namespace tether::detail {

class Waiter;
class TaskHeader;

// A callback registered on a CancelState; intrusive so registering never allocates.
struct CancelCallbackNode {
  void (*fn)(CancelCallbackNode*) = nullptr;
  CancelCallbackNode* prev = nullptr;  // Access: only while the state's mu_ is held
  CancelCallbackNode* next = nullptr;  // Access: only while the state's mu_ is held
  bool linked = false;                 // Access: only while the state's mu_ is held
  Atomic<bool> done{false};            // release by the canceller after fn returns (rule 6)
  // The thread running fn right now, or none (rule 6). Kept here rather than in the CancelState,
  // which every task embeds, while only registered callbacks need it.
  // Access: only while the state's mu_ is held.
  std::thread::id running_on{};
};

class CancelState {
 public:
  // Links under `parent` (may be null: a root). The new node starts cancelled if the parent is,
  // unless it is `shielded`: a shielded node stays in the tree (task dumps and shutdown reports see
  // what runs under it) but its parent's cancellation does not reach it.
  explicit CancelState(CancelState* parent, bool shielded = false) noexcept;
  CancelState(const CancelState&) = delete;
  CancelState& operator=(const CancelState&) = delete;

  // acquire: pairs with the release in cancel(), so state written before cancel() is visible.
  bool is_cancelled() const noexcept { return cancelled_.load(std::memory_order_acquire); }

  // Cancels this node and every descendant. Idempotent; callable from any thread.
  void cancel();

  // Arms `w` as the waiter of the task suspended in this scope (rule 5). Returns false, arming
  // nothing, if the scope is already cancelled.
  bool arm(Waiter* w) noexcept;
  void disarm(Waiter* w) noexcept;

  // Registers `node`; returns false (and does not call it) if already cancelled.
  bool register_callback(CancelCallbackNode* node) noexcept;
  void unregister_callback(CancelCallbackNode* node) noexcept;

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }  // relaxed: see release()
  // A reference on a node reached through the tree (cancel()'s walk), which may be dying: its
  // count already reached zero and its destructor is about to unlink it. Returns false then.
  bool try_add_ref() noexcept {
    std::uint32_t r = refs_.load(std::memory_order_relaxed);  // relaxed: as add_ref()
    while (r != 0) {
      if (refs_.compare_exchange_weak(r, r + 1, std::memory_order_relaxed)) return true;
    }
    return false;
  }
  // Drops `n` references at once.
  void release(std::uint32_t n = 1) noexcept {
    // acq_rel: the final release must see every other holder's writes before destroying (the
    // standard reference-count pattern).
    if (refs_.fetch_sub(n, std::memory_order_acq_rel) == n) destroy_self();
  }

  CancelState* parent() const noexcept { return parent_; }

  // For children about to be destroyed: unlinks each child whose reference count is exactly
  // `refs[i]` (the caller's, which it is about to drop: nobody else holds it, so no child of its own
  // and no cancel() walk can reach it) and drops its reference on this node; that is what its
  // destructor would do, for all of them under one lock. Children with other holders are left to
  // their destructors. REQUIRES: each is a child of this node and the caller holds `refs[i]`
  // references on it.
  void detach_dying_children(CancelState* const* children, const std::uint32_t* refs, std::size_t n) noexcept;

  // Calls fn(node) for each live child while holding mu_. For diagnostics (task dumps, shutdown
  // reports) only: fn must not take locks or call back into the tree.
  template <class Fn>
  void for_each_child(Fn&& fn) {
    std::lock_guard<SpinLock> g(mu_);
    for (CancelState* c = first_child_; c; c = c->next_sibling_) fn(c);
  }

  virtual TaskHeader* as_task() noexcept { return nullptr; }

 protected:
  virtual ~CancelState();
  // Called when the last reference goes; frees the node.
  virtual void destroy_self() noexcept { delete this; }

  SpinLock mu_;

 private:
  void unlink_child(CancelState* c) noexcept;
  void unlink_child_locked(CancelState* c) noexcept;  // REQUIRES: mu_ held

  // The one-byte fields first, beside mu_, so that no padding sits between them (every task
  // embeds a CancelState: its size is paid once per live task).
  bool shielded_;  // constant after construction
  // Atomic: rule 1
  Atomic<bool> cancelled_{false};
  // Atomic: rule 5
  Atomic<bool> cancelling_{false};
  Atomic<std::uint32_t> refs_{1};
  // Constant after construction, except that detach_dying_children() clears it, under the parent's
  // mu_, for a child nobody else holds (so nobody else reads it).
  CancelState* parent_;
  // Guarded by mu_
  CancelState* first_child_ = nullptr;
  CancelState* prev_sibling_ = nullptr;  // guarded by parent_->mu_
  CancelState* next_sibling_ = nullptr;  // guarded by parent_->mu_
  CancelCallbackNode* callbacks_ = nullptr;
  // Atomic: rule 5
  Atomic<Waiter*> waiter_{nullptr};
};

}  // namespace tether::detail

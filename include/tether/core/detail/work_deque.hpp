// Internal; not part of the public API.
//
// WorkDeque: a bounded run queue of a worker. The owning worker pushes at the back and pops at
// either end; other workers steal half of it from the front.
//
// Why a deque: a worker serves the tasks it spawned newest first (pop_back), so a task that spawns
// children and awaits them runs its newest child next and a tree of tasks unfolds depth-first: a
// worker holds one path of the tree plus the siblings along it, not a whole level (skynet's peak
// memory fell from ~47 MB to ~5 MB and its time by two thirds against a FIFO queue). Thieves take
// the oldest tasks, the roots of the largest unexplored subtrees. The same type serves oldest first
// (pop_front) as the queue of tasks that wait their turn (multi_thread.cpp, LocalQueues).
//
// When to use something else: the scheduler's global queue (Inject in multi_thread.cpp) takes tasks
// from threads that are not workers; this one has a single owner.
//
// Protocol (numbers are referred to in the code):
//  1. One 64-bit word `ends_` holds head (bits 16-31), tail (bits 0-15) and a tag (bits 32-63);
//     the tasks are slots [head, tail), indices modulo 2^16 (kCap divides 2^16). Every change to
//     either end is one CAS on `ends_` that also bumps the tag, by the owner and thieves alike, so
//     an owner pop at the back and a thief's steal at the front can never take the same task: one
//     of the two CASes fails and retries. (A Chase-Lev deque avoids the owner's CAS but lets a thief
//     take only one task at a time; stealing half at once keeps thieves off the owner's line.)
//  2. A thief copies slots [head, head + n) after loading `ends_` and keeps the copies only if its
//     CAS from that same value succeeds. The tag makes that value unique for 2^32 operations, so a
//     successful CAS proves that no end moved meanwhile; the owner writes a slot only outside
//     [head, tail) (free space), so the copies were not overwritten.
//  3. The owner writes a slot before the CAS that publishes it (release); readers load `ends_` with
//     acquire before reading slots. Slots are atomics (relaxed): a thief may read a slot that the
//     owner rewrites, but then its CAS fails.
//  4. For the scheduler's watcher, each slot also records the push counter at its push, so another
//     thread can ask whether the front task was queued before some mark (a worker that fell behind).
//     An estimate: it may read a slot that is being reused.
//
// Thread safety: push_back, pop_back, pop_front and pop_batch only on the owning thread;
// steal, len and front_pushed_before on any thread.
// Example: tests/core/work_deque_test.cpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "tether/core/detail/sync_shim.hpp"

namespace tether::detail {

template <class T>
class WorkDeque {
 public:
  static constexpr std::uint32_t kCap = 256;
  static_assert(65536 % kCap == 0, "slot indices are taken modulo 2^16");

  // Owner only: appends at the back (runs next). Returns false when full.
  bool push_back(T* item) noexcept {
    std::uint64_t seen = ends_.load(std::memory_order_acquire);
    for (;;) {
      Ends e = unpack(seen);
      if (e.len() >= kCap) return false;
      write_slot(e.tail, item);  // rule 3
      Ends next{e.head, static_cast<std::uint16_t>(e.tail + 1), e.tag + 1};
      // release: publishes the slot (rule 3); acquire on failure: the new head, for the retry.
      if (ends_.compare_exchange_weak(seen, pack(next), std::memory_order_release, std::memory_order_acquire)) {
        return true;
      }
    }
  }

  // Owner only: the newest task at the back, or null when empty.
  T* pop_back() noexcept {
    std::uint64_t seen = ends_.load(std::memory_order_acquire);
    for (;;) {
      Ends e = unpack(seen);
      if (e.len() == 0) return nullptr;
      std::uint16_t last = static_cast<std::uint16_t>(e.tail - 1);
      T* item = slots_[last % kCap].load(std::memory_order_relaxed);  // only the owner writes slots
      Ends next{e.head, last, e.tag + 1};
      // acq_rel: acquire pairs with the thieves' CAS (the slot is ours once it succeeds).
      if (ends_.compare_exchange_weak(seen, pack(next), std::memory_order_acq_rel, std::memory_order_acquire)) {
        return item;
      }
    }
  }

  // Owner only: the task at the front, or null when empty.
  T* pop_front() noexcept {
    T* item = nullptr;
    return take_front(&item, 1, false) ? item : nullptr;
  }

  // Owner only: takes up to `max` tasks from the front (to move to the global queue on overflow).
  std::size_t pop_batch(T** out, std::size_t max) noexcept { return take_front(out, max, false); }

  // Any thread: takes half of the tasks (rounded up), at most `max`, from the front into `out`.
  std::size_t steal(T** out, std::size_t max) noexcept { return take_front(out, max, true); }

  // Any thread: an estimate (exact on the owner's thread).
  std::size_t len() const noexcept { return unpack(ends_.load(std::memory_order_acquire)).len(); }

  // Any thread: tasks pushed so far (a mark for front_pushed_before).
  std::uint64_t pushed() const noexcept { return pushes_.load(std::memory_order_relaxed); }

  // Any thread: whether the front task was pushed before `mark` (a value of pushed()), i.e. has been
  // waiting since then. An estimate (rule 4).
  bool front_pushed_before(std::uint64_t mark) const noexcept {
    Ends e = unpack(ends_.load(std::memory_order_acquire));
    if (e.len() == 0) return false;
    return pushed_at_[e.head % kCap].load(std::memory_order_relaxed) < mark;
  }

 private:
  struct Ends {
    std::uint16_t head;
    std::uint16_t tail;
    std::uint32_t tag;
    std::uint32_t len() const noexcept { return static_cast<std::uint16_t>(tail - head); }
  };
  static std::uint64_t pack(Ends e) noexcept {
    return (std::uint64_t{e.tag} << 32) | (std::uint64_t{e.head} << 16) | std::uint64_t{e.tail};
  }
  static Ends unpack(std::uint64_t w) noexcept {
    return Ends{static_cast<std::uint16_t>(w >> 16), static_cast<std::uint16_t>(w),
                static_cast<std::uint32_t>(w >> 32)};
  }

  void write_slot(std::uint16_t index, T* item) noexcept {
    // relaxed: published by the caller's release CAS (rule 3). Only the owner writes pushes_.
    std::uint64_t mark = pushes_.load(std::memory_order_relaxed);
    pushes_.store(mark + 1, std::memory_order_relaxed);
    pushed_at_[index % kCap].store(mark, std::memory_order_relaxed);
    slots_[index % kCap].store(item, std::memory_order_relaxed);
  }

  std::size_t take_front(T** out, std::size_t max, bool half) noexcept {
    std::uint64_t seen = ends_.load(std::memory_order_acquire);  // acquire: pairs with the pushes' release
    for (;;) {
      Ends e = unpack(seen);
      std::uint32_t avail = e.len();
      std::size_t n = std::min<std::size_t>(half ? avail - avail / 2 : avail, max);
      if (n == 0) return 0;
      for (std::size_t i = 0; i < n; ++i) {
        out[i] = slots_[static_cast<std::uint16_t>(e.head + i) % kCap].load(std::memory_order_relaxed);
      }
      Ends next{static_cast<std::uint16_t>(e.head + n), e.tail, e.tag + 1};
      // acq_rel: release orders our slot reads before the owner may reuse the slots (rule 2).
      if (ends_.compare_exchange_weak(seen, pack(next), std::memory_order_acq_rel, std::memory_order_acquire)) {
        return n;
      }
    }
  }

  alignas(64) Atomic<std::uint64_t> ends_{0};
  Atomic<std::uint64_t> pushes_{0};  // written only by the owner
  alignas(64) Atomic<T*> slots_[kCap] = {};
  Atomic<std::uint64_t> pushed_at_[kCap] = {};
};

}  // namespace tether::detail

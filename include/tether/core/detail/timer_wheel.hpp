// Internal; not part of the public API.
//
// Hierarchical timing wheel: six levels of 64 slots at 1 ms resolution (level L's slots are 64^L ms
// wide), so insert and remove are O(1) and a deadline up to ~2,000 years out fits. Entries are
// intrusive (they live in the sleeping task's awaiter), so a million timers cost a million awaiters
// and nothing more. Not thread-safe: RuntimeCore guards it with its timer lock.
//
// Invariants:
//  1. An entry in level L slot S has a deadline whose bits above level L agree with `elapsed_`, and
//     S is its level-L digit; expiring a slot re-inserts entries not yet due, which then land in a
//     lower level (cascading), so every entry fires at its own millisecond.
//  2. `occupied_[L]` has bit S set iff slot S of level L is non-empty.
#pragma once

#include <cstdint>
#include <limits>

namespace tether::detail {

class TimerWheel;
class Waiter;
class CancelState;

// What expired timers ask for; the wheel's owner carries it out after releasing its lock.
struct FiredBatch {
  static constexpr int kCap = 64;
  Waiter* wake[kCap];
  int n_wake = 0;
  CancelState* cancel[kCap];  // each with a reference taken by the entry's fire()
  int n_cancel = 0;
  std::uint64_t now_ms = 0;  // the wheel's time when the entry being fired came due
  bool full() const noexcept { return n_wake == kCap || n_cancel == kCap; }
};

struct TimerEntry {
  std::uint64_t deadline_ms = 0;
  // Called under the wheel's lock when the entry is due; may only record work in the batch. Returns
  // true to be linked again at the deadline_ms it set (after batch.now_ms, within kSpan of it): an
  // entry that stays armed across many waits and moves on when it finds its owner's deadline later.
  bool (*fire)(TimerEntry*, FiredBatch&) = nullptr;
  // Access: only under the wheel's lock
  TimerEntry* prev = nullptr;
  TimerEntry* next = nullptr;
  std::uint8_t level = 0;
  std::uint8_t slot = 0;
  bool linked = false;
};

class TimerWheel {
 public:
  static constexpr std::uint64_t kNever = std::numeric_limits<std::uint64_t>::max();
  // How far ahead the wheel reaches (64^6 ms, about 2.2 years); later deadlines are clamped to it.
  static constexpr std::uint64_t kSpan = std::uint64_t{1} << 36;

  // Links `e`; returns false if its deadline is not after the wheel's current time (fire it now).
  bool insert(TimerEntry* e) noexcept;
  void remove(TimerEntry* e) noexcept;
  // The earliest deadline of any slot, or kNever. A slot's deadline may be earlier than its
  // entries' own deadlines (they then cascade), never later.
  std::uint64_t next_expiration() const noexcept;
  // Fires the entries due at or before now_ms into `batch`; stops early when the batch fills, and
  // returns true if more may be due (call again after emptying the batch).
  bool advance(std::uint64_t now_ms, FiredBatch& batch) noexcept;
  std::uint64_t elapsed() const noexcept { return elapsed_; }
  std::size_t size() const noexcept { return size_; }

 private:
  static constexpr int kLevels = 6;
  static constexpr int kSlots = 64;
  void link(TimerEntry* e) noexcept;
  std::uint64_t level_expiration(int level) const noexcept;

  TimerEntry* slots_[kLevels][kSlots] = {};
  std::uint64_t occupied_[kLevels] = {};
  std::uint64_t elapsed_ = 0;
  std::size_t size_ = 0;
  // Entries of the slot being expired, not yet fired (advance() stopped on a full batch).
  TimerEntry* pending_ = nullptr;
};

}  // namespace tether::detail

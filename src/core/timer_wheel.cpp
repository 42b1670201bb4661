// Hierarchical timing wheel; invariants in include/tether/core/detail/timer_wheel.hpp.
#include "tether/core/detail/timer_wheel.hpp"

#include <bit>

namespace tether::detail {
namespace {

constexpr std::uint64_t slot_width(int level) { return std::uint64_t{1} << (6 * level); }

}  // namespace

void TimerWheel::link(TimerEntry* e) noexcept {
  // Invariant 1: the level is the highest 6-bit digit in which deadline and elapsed differ.
  std::uint64_t masked = (e->deadline_ms ^ elapsed_) | (kSlots - 1);
  int significant = 63 - std::countl_zero(masked);
  int level = significant / 6;
  if (level >= kLevels) level = kLevels - 1;
  int slot = static_cast<int>((e->deadline_ms >> (6 * level)) % kSlots);
  e->level = static_cast<std::uint8_t>(level);
  e->slot = static_cast<std::uint8_t>(slot);
  e->prev = nullptr;
  e->next = slots_[level][slot];
  if (e->next) e->next->prev = e;
  slots_[level][slot] = e;
  occupied_[level] |= std::uint64_t{1} << slot;  // invariant 2
  e->linked = true;
}

bool TimerWheel::insert(TimerEntry* e) noexcept {
  if (e->deadline_ms <= elapsed_) return false;
  if (e->deadline_ms - elapsed_ >= kSpan) e->deadline_ms = elapsed_ + kSpan - 1;
  link(e);
  ++size_;
  return true;
}

void TimerWheel::remove(TimerEntry* e) noexcept {
  if (!e->linked) return;
  if (e->level == 0xff) {  // on the pending list of a slot being expired
    if (e->prev) {
      e->prev->next = e->next;
    } else {
      pending_ = e->next;
    }
    if (e->next) e->next->prev = e->prev;
  } else {
    if (e->prev) {
      e->prev->next = e->next;
    } else {
      slots_[e->level][e->slot] = e->next;
    }
    if (e->next) e->next->prev = e->prev;
    if (!slots_[e->level][e->slot]) occupied_[e->level] &= ~(std::uint64_t{1} << e->slot);
  }
  e->prev = e->next = nullptr;
  e->linked = false;
  --size_;
}

std::uint64_t TimerWheel::level_expiration(int level) const noexcept {
  std::uint64_t occ = occupied_[level];
  if (!occ) return kNever;
  std::uint64_t width = slot_width(level);
  int now_slot = static_cast<int>((elapsed_ / width) % kSlots);
  int dist = std::countr_zero(std::rotr(occ, now_slot));
  int slot = (now_slot + dist) % kSlots;
  std::uint64_t level_range = width * kSlots;
  std::uint64_t level_start = elapsed_ & ~(level_range - 1);
  std::uint64_t deadline = level_start + static_cast<std::uint64_t>(slot) * width;
  if (deadline < elapsed_ && slot != now_slot) deadline += level_range;
  // A slot's entries may sit earlier than `elapsed_` only at the current slot (they cascade now).
  return deadline < elapsed_ ? elapsed_ : deadline;
}

std::uint64_t TimerWheel::next_expiration() const noexcept {
  if (pending_) return elapsed_;
  std::uint64_t best = kNever;
  for (int level = 0; level < kLevels; ++level) {
    std::uint64_t d = level_expiration(level);
    if (d < best) best = d;
  }
  return best;
}

bool TimerWheel::advance(std::uint64_t now_ms, FiredBatch& batch) noexcept {
  for (;;) {
    while (TimerEntry* e = pending_) {
      if (batch.full()) return true;
      pending_ = e->next;
      if (pending_) pending_->prev = nullptr;
      e->prev = e->next = nullptr;
      e->linked = false;
      if (e->deadline_ms <= elapsed_) {
        --size_;
        batch.now_ms = elapsed_;
        if (e->fire(e, batch)) insert(e);  // moved on to a later deadline
      } else {
        link(e);  // invariant 1: lands in a lower level
      }
    }
    // Find the earliest slot due; its entries become pending.
    int best_level = -1;
    std::uint64_t best = kNever;
    for (int level = 0; level < kLevels; ++level) {
      std::uint64_t d = level_expiration(level);
      if (d < best) {
        best = d;
        best_level = level;
      }
    }
    if (best_level < 0 || best > now_ms) {
      if (now_ms > elapsed_) elapsed_ = now_ms;
      return false;
    }
    elapsed_ = best;
    int slot = static_cast<int>((best / slot_width(best_level)) % kSlots);
    TimerEntry* list = slots_[best_level][slot];
    slots_[best_level][slot] = nullptr;
    occupied_[best_level] &= ~(std::uint64_t{1} << slot);
    for (TimerEntry* e = list; e; e = e->next) e->level = 0xff;  // now on the pending list
    pending_ = list;
  }
}

}  // namespace tether::detail

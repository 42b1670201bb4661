// TimerWheel (internal): every entry fires at its own millisecond, across levels and cascades.
#include "tether/core/detail/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

namespace {

using tether::detail::FiredBatch;
using tether::detail::TimerEntry;
using tether::detail::TimerWheel;

struct Probe : TimerEntry {
  std::uint64_t fired_at = 0;
  std::uint64_t* clock = nullptr;
};

bool fire(TimerEntry* e, FiredBatch&) noexcept {
  auto* p = static_cast<Probe*>(e);
  p->fired_at = *p->clock;
  return false;
}

// Property: advancing one millisecond at a time, each entry fires exactly at its deadline.
TEST(TimerWheelTest, EachEntryFiresAtItsDeadline) {
  TimerWheel w;
  std::uint64_t now = 0;
  std::mt19937_64 rng(5);
  std::vector<Probe> probes(2000);
  for (auto& p : probes) {
    p.deadline_ms = 1 + rng() % 300'000;
    p.fire = &fire;
    p.clock = &now;
    ASSERT_TRUE(w.insert(&p));
  }
  std::uint64_t last = 0;
  for (auto& p : probes) last = std::max(last, p.deadline_ms);
  FiredBatch batch;
  while (now < last) {
    // Jump straight to the next expiration, as a parked runtime does.
    std::uint64_t next = w.next_expiration();
    ASSERT_NE(next, TimerWheel::kNever);
    ASSERT_GE(next, now);
    now = next;
    do {
      batch = FiredBatch{};
    } while (w.advance(now, batch));
  }
  for (auto& p : probes) EXPECT_EQ(p.fired_at, p.deadline_ms);
  EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheelTest, RemovedEntriesNeverFire) {
  TimerWheel w;
  std::uint64_t now = 0;
  Probe a, b;
  for (Probe* p : {&a, &b}) {
    p->fire = &fire;
    p->clock = &now;
  }
  a.deadline_ms = 100;
  b.deadline_ms = 5000;
  w.insert(&a);
  w.insert(&b);
  w.remove(&b);
  FiredBatch batch;
  now = 10'000;
  w.advance(now, batch);
  EXPECT_EQ(a.fired_at, 10'000u);
  EXPECT_EQ(b.fired_at, 0u);
  EXPECT_EQ(w.size(), 0u);
}

// An entry whose fire() returns true is linked again at the deadline it set, and fires there too:
// how an I/O object's deadline timer follows its owner's later deadlines without a remove and an
// insert per wait.
struct MovingProbe : TimerEntry {
  std::vector<std::uint64_t> fired_at;  // batch.now_ms at each firing
  std::vector<std::uint64_t> next;      // deadlines to move on to, in order
};

bool move_on(TimerEntry* e, FiredBatch& batch) noexcept {
  auto* p = static_cast<MovingProbe*>(e);
  p->fired_at.push_back(batch.now_ms);
  if (p->fired_at.size() > p->next.size()) return false;
  p->deadline_ms = p->next[p->fired_at.size() - 1];
  return true;
}

TEST(TimerWheelTest, AnEntryCanMoveOnFromItsFiring) {
  TimerWheel w;
  MovingProbe p;
  p.fire = &move_on;
  p.deadline_ms = 100;
  p.next = {250, 70'000};  // the second lands two levels up and cascades down
  ASSERT_TRUE(w.insert(&p));
  std::uint64_t now = 0;
  while (w.next_expiration() != TimerWheel::kNever) {
    now = w.next_expiration();
    FiredBatch batch;
    while (w.advance(now, batch)) batch = FiredBatch{};
    EXPECT_EQ(w.size(), p.fired_at.size() <= p.next.size() ? 1u : 0u);
  }
  EXPECT_EQ(p.fired_at, (std::vector<std::uint64_t>{100, 250, 70'000}));
  EXPECT_FALSE(p.linked);
}

TEST(TimerWheelTest, PastDeadlineIsRefused) {
  TimerWheel w;
  FiredBatch batch;
  w.advance(50, batch);
  TimerEntry e;
  e.deadline_ms = 50;
  EXPECT_FALSE(w.insert(&e));
}

}  // namespace

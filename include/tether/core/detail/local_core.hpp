// Internal; not part of the public API.
//
// LocalCore: the single-threaded flavours. Tasks run on the thread that calls block_on(); other
// threads (the blocking pool, other runtimes) hand tasks over through a locked injection queue and
// wake the driver. With `virtual_time`, the clock stands still while tasks run and jumps to the next
// timer when every task is blocked (and no blocking-pool job is in flight), and the next task is
// chosen among the ready ones by a seeded generator: the same seed gives the same interleaving.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "tether/core/detail/runtime_core.hpp"

namespace tether::detail {

struct LocalCoreOptions {
  bool virtual_time = false;
  bool seeded_order = false;  // choose among ready tasks by the seeded generator (else FIFO)
  std::uint64_t seed = 0;
};

class LocalCore final : public RuntimeCore {
 public:
  LocalCore(RuntimeOptions options, LocalCoreOptions local);
  ~LocalCore() override;

  void schedule(TaskHeader* t, ScheduleHint hint) noexcept override;
  std::uint64_t now_ms() const noexcept override;
  bool is_virtual_time() const noexcept override { return local_.virtual_time; }
  unsigned worker_count() const noexcept override { return 1; }
  void block_until_complete(JoinCellBase* j) override;
  void wait_idle_until(std::chrono::steady_clock::time_point deadline) override;

  // Virtual time: moves the clock forward by `ms` and fires what became due.
  void advance(std::uint64_t ms);
  std::uint64_t seed() const noexcept { return local_.seed; }
  std::size_t ready_count() const noexcept { return ready_.size(); }
  void stop() noexcept;

 private:
  // Runs tasks until `done()` or, when nothing can make progress, returns false.
  template <class Done>
  bool run_until(Done done, std::chrono::steady_clock::time_point deadline);
  void drain_inject() noexcept;
  TaskHeader* pick() noexcept;

  LocalCoreOptions local_;
  std::thread::id owner_;
  bool running_ = false;           // the owner thread is inside run_until()
  std::deque<TaskHeader*> ready_;  // Access: only by the owner thread
  std::mutex inject_mu_;
  std::deque<TaskHeader*> inject_;  // guarded by inject_mu_
  Atomic<std::uint64_t> virtual_now_{0};
  std::mt19937_64 rng_;
  bool stopped_ = false;
};

}  // namespace tether::detail

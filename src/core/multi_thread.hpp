// Internal to src/core: the multi-threaded work-stealing flavour; see multi_thread.cpp.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "tether/core/detail/runtime_core.hpp"

namespace tether::detail {

class Idle;
class Inject;
class Parker;
struct QueueMarks;

class MultiThreadCore final : public RuntimeCore {
 public:
  struct Worker;
  explicit MultiThreadCore(RuntimeOptions options);
  ~MultiThreadCore() override;

  void schedule(TaskHeader* t, ScheduleHint hint) noexcept override;
  unsigned worker_count() const noexcept override;
  void block_until_complete(JoinCellBase* j) override;
  void wait_idle_until(std::chrono::steady_clock::time_point deadline) override;
  // Stops the workers and pools and destroys unfinished tasks. Idempotent.
  void stop() noexcept;
  void fill_metrics(std::uint64_t& global_depth, std::vector<std::uint64_t>& local_depths) const;

 private:
  friend class Parker;
  void on_earlier_timer(std::uint64_t deadline_ms) noexcept override;
  void run(Worker* w);
  TaskHeader* next_task(Worker* w) noexcept;
  TaskHeader* steal_work(Worker* w) noexcept;
  TaskHeader* spin_for_work(Worker* w) noexcept;
  void run_task(Worker* w, TaskHeader* t) noexcept;
  // Which of a worker's two queues a task joins (LocalQueues in multi_thread.cpp).
  enum class Lane : std::uint8_t { kSoon, kInTurn };
  void push_local(Worker* w, TaskHeader* t, Lane lane) noexcept;
  void notify_parked() noexcept;
  void park(Worker* w) noexcept;
  void maintenance(Worker* w) noexcept;
  bool has_visible_work(Worker* w) const noexcept;
  // Waits in the driver (timeout -1: until the next timer, but at most `max_ms` if that is not
  // -1), then fires due timers. Caller holds driver_mu_.
  void drive(int timeout_ms, int max_ms = -1) noexcept;
  // io_uring, a parked worker without the driver lock: sleeps in its own lane of the driver for
  // up to max_ms (-1: until woken) and dispatches the I/O events that arrive there.
  void drive_lane(int max_ms) noexcept;
  // After queueing work without notifying: wakes a worker into the watcher's role if none has it
  // and one sleeps without a time limit (park()).
  void ensure_watcher() noexcept;
  // Whether another worker's oldest queued task was already queued when `marks` was read (park()).
  bool someone_fell_behind(Worker* w, const std::vector<QueueMarks>& marks) const noexcept;

  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<Idle> idle_;
  std::unique_ptr<Inject> inject_;
  std::mutex driver_mu_;  // held by the one worker that waits in (or polls) the driver
  // When the worker in the driver will wake by itself (ms), kNotSleeping if none sleeps there.
  // Protocol: the driver stores kNever before it reads the next timer deadline (under the timer
  // lock), then that deadline, then sleeps; a thread that added an earlier timer (under the same
  // lock) reads it afterwards and unparks the driver only if its deadline is earlier. So the wake is
  // never missed and never wasted on a driver that would wake in time anyway.
  static constexpr std::uint64_t kNotSleeping = 0;
  Atomic<std::uint64_t> driver_wake_at_{kNotSleeping};
  Atomic<bool> stop_flag_{false};
  Atomic<bool> watcher_taken_{false};  // a worker naps as the watcher (at most one; see park())
  // The watcher's nap in ms (park(): from kHelpAfterMs up to kMaxHelpAfterMs). Access: only by
  // the worker holding watcher_taken_ (its compare-exchange and release store order hand-overs).
  int watch_nap_ms_ = 1;
  Atomic<unsigned> deep_sleepers_{0};  // workers parked without a time limit (park())
  // Driver polls so far; relaxed: park() only asks whether anybody polled while it slept.
  Atomic<std::uint64_t> polls_{0};
  bool stopped_ = false;
};

}  // namespace tether::detail

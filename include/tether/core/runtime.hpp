// tether/core/runtime.hpp
//
// Runtime: the scheduler that runs tasks. The default flavour is a multi-threaded work-stealing
// scheduler (a bounded local run queue per worker, a LIFO slot for the task just woken, a global
// injection queue, stealing, and parking without busy-spinning); Flavor::kCurrentThread runs
// everything on the thread that calls block_on(). Both have the same API.
//
//   Runtime          owns the workers, the timer wheel, the I/O driver and the thread pools
//   RuntimeMetrics   a plain snapshot of counters and queue depths
//   ShutdownReport   what shutdown(grace) found still alive
//   block_on()       run a task to completion from ordinary code
//
// When to use something else: tests that involve time use tether::testing::VirtualRuntime, which
// has a paused clock and a seeded schedule (tether/testing/virtual_runtime.hpp).
//
// Thread safety: thread-safe: spawn(), metrics() and shutdown() may be called from any thread;
//   the Runtime must outlive every call into it.
// Lifetime: destroying the Runtime cancels every task, waits up to one second for them to finish,
//   then destroys the frames of those that did not (their RAII cleanup runs) and joins the workers.
// Example: examples/core/hello.cpp
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <source_location>
#include <string>
#include <vector>

#include "tether/core/detail/runtime_core.hpp"
#include "tether/core/runtime_options.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/task.hpp"

namespace tether {

namespace observe {
class Watchdog;
}
namespace detail {
// Implemented by tether/observe (a lower layer defines the hook, the higher one fills it in).
struct WatchdogDeleter {
  void operator()(observe::Watchdog* w) const noexcept;
};
}  // namespace detail

struct RuntimeMetrics {
  unsigned workers = 0;
  std::uint64_t tasks_spawned = 0;
  std::uint64_t tasks_completed = 0;  // including failed and cancelled
  std::uint64_t tasks_failed = 0;
  std::uint64_t tasks_cancelled = 0;
  std::uint64_t tasks_alive = 0;
  std::uint64_t polls = 0;   // task resumptions
  std::uint64_t steals = 0;  // tasks taken from another worker's queue
  std::uint64_t parks = 0;   // times a worker went to sleep
  std::uint64_t global_queue_depth = 0;
  std::vector<std::uint64_t> local_queue_depths;
  // Armed timers: sleeps, timeouts, and I/O objects' deadline timers (each stays armed across waits).
  std::uint64_t timers = 0;
  std::uint64_t blocking_threads = 0;
  std::uint64_t blocking_idle_threads = 0;
  std::uint64_t blocking_queue_depth = 0;
  std::uint64_t compute_threads = 0;
  std::uint64_t compute_queue_depth = 0;
};

struct TaskInfo {
  std::uint64_t id = 0;
  std::string name;
  std::chrono::milliseconds age{0};
  std::string waiting_on;  // "" when running or ready
};

struct ShutdownReport {
  bool clean() const noexcept { return still_alive.empty(); }
  std::vector<TaskInfo> still_alive;  // tasks that outlived the grace period
  std::chrono::milliseconds took{0};
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Runs `task` to completion on this runtime and returns its value (or rethrows). The calling
  // thread runs tasks itself for kCurrentThread, or waits for the workers for kMultiThread.
  // REQUIRES: not called from inside a task of any runtime.
  template <class T>
  T block_on(Task<T> task, std::source_location loc = std::source_location::current()) {
    auto* cell = detail::spawn_cell(core_.get(), std::move(task), {.name = "block_on"}, loc);
    JoinHandle<T> handle(cell);
    run_until_complete(cell);
    cell->mark_result_consumed();
    return cell->result().take();
  }

  template <class T>
  [[nodiscard]] JoinHandle<T> spawn(Task<T> task, SpawnOptions opts = {},
                                    std::source_location loc = std::source_location::current()) {
    return JoinHandle<T>(detail::spawn_cell(core_.get(), std::move(task), opts, loc));
  }

  // Cancels every task, waits up to `grace` for them to finish, and reports (and logs at warn
  // level, with name, id, age and what it waits on) every task still alive then. Returns on time
  // even if tasks ignore cancellation. Tasks spawned afterwards start cancelled.
  ShutdownReport shutdown(std::chrono::milliseconds grace);

  RuntimeMetrics metrics() const;
  // The I/O reactor in use: RuntimeOptions::io_backend, or kEpoll where io_uring was asked for and
  // refused (logged once, with the reason, when the first I/O object registers).
  IoBackend io_backend() const noexcept;
  // Every live task (for diagnostics).
  std::vector<TaskInfo> tasks() const;
  // The root token: cancelled by shutdown(); every task descends from it unless spawned under
  // another token.
  CancellationToken token() const;
  const RuntimeOptions& options() const noexcept { return core_->options(); }

  detail::RuntimeCore& core() noexcept { return *core_; }

 protected:
  explicit Runtime(std::unique_ptr<detail::RuntimeCore> core);

 private:
  void run_until_complete(detail::JoinCellBase* j);
  std::unique_ptr<detail::RuntimeCore> core_;
  // The monitor thread of RuntimeOptions::watchdog; null when disabled or in virtual time.
  std::unique_ptr<observe::Watchdog, detail::WatchdogDeleter> watchdog_;
};

// Runs `task` on a fresh runtime built from `options` and returns its result.
template <class T>
T block_on(Task<T> task, RuntimeOptions options = {}) {
  Runtime rt(std::move(options));
  return rt.block_on(std::move(task));
}

}  // namespace tether

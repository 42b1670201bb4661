// tether/core/runtime_options.hpp
//
// The options struct a Runtime is built from, with designated initialisers:
//
//   tether::Runtime rt({.workers = 2, .name = "api"});
//
// Every field has a safe default; each says what it trades off. Thread safety: a plain value.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace tether {

namespace observe {
struct WatchdogReport;  // tether/observe/watchdog.hpp
}

// The watchdog (tether/observe/watchdog.hpp): one monitor thread per runtime that reports, once per
// task and at warn level with its async backtrace, a task that holds a worker too long without
// suspending (it blocks the runtime), and a task that has waited too long on something with no
// deadline (it may be hung). Its cost on the hot path is a few relaxed stores per task run.
struct WatchdogOptions {
  // Off: no monitor thread (the per-run stamps remain; they are too cheap to switch). The
  // environment variable TETHER_WATCHDOG=0 also turns it off, without a rebuild.
  bool enabled = true;
  // A run longer than this is reported as blocking. Lower catches more, but flags honest
  // CPU-heavy turns that should move to spawn_compute anyway. 0 disables the check.
  std::chrono::milliseconds blocking_threshold{100};
  // A task waiting longer than this, with no timeout scope above it and not on a sleep, is reported
  // as possibly hung. Long-lived consumers waiting for work look the same: raise it, or give such
  // waits a deadline. 0 disables the check.
  std::chrono::milliseconds hung_threshold{60'000};
  // Called (on the monitor thread) for each report, after it is logged. Must not block for long.
  std::function<void(const observe::WatchdogReport&)> on_report = {};
};

// The I/O reactor (tether/io). kIoUring falls back to kEpoll, with one log line, where the kernel or
// the build refuses io_uring.
enum class IoBackend {
  kEpoll,    // readiness through the driver's epoll instance; the default
  kIoUring,  // readiness through io_uring rings, one per worker (multishot polls), where the kernel
             // allows it; ~0.94x epoll's echo round trips on this machine (docs/io.md "Backends")
};

enum class Flavor {
  kMultiThread,    // work-stealing workers; the default
  kCurrentThread,  // everything runs on the thread that calls block_on(); no worker threads
};

struct RuntimeOptions {
  Flavor flavor = Flavor::kMultiThread;
  // Worker threads for kMultiThread; 0 means one per core.
  unsigned workers = 0;
  // Prefix of thread names ("tether-w0", "tether-blk") and the runtime's name in logs.
  std::string name = "tether";

  // Blocking pool (spawn_blocking): threads are started on demand up to `blocking_threads`, and
  // exit after `blocking_keep_alive` idle. Jobs beyond the threads wait in a queue of
  // `blocking_queue` entries; when that is full too, the submitting task waits for room.
  std::size_t blocking_threads = 64;
  std::size_t blocking_queue = 1024;
  std::chrono::milliseconds blocking_keep_alive{10'000};

  // Compute pool (spawn_compute) for CPU-bound work: a fixed set of threads (0 = one per core) and
  // a bounded queue; a full queue makes the submitting task wait.
  unsigned compute_threads = 0;
  std::size_t compute_queue = 1024;

  // Default deadline of every external call (network, file, process) that is not given its own.
  std::chrono::milliseconds io_timeout{30'000};
  // Which I/O reactor sockets and pipes use (see IoBackend).
  IoBackend io_backend = IoBackend::kEpoll;

  // Scheduler tuning. Every `global_queue_interval` tasks a worker takes a task that waits its turn
  // first (from the global queue, else the oldest of its own yielded or I/O-woken tasks), and it
  // polls timers and I/O every `event_interval` tasks even while busy (fairness against latency).
  unsigned global_queue_interval = 31;
  unsigned event_interval = 61;
  // How long a worker that ran out of work keeps looking before it parks (0: park at once, the
  // default). A park/unpark pair costs the waker a futex call and both sides a context switch, so
  // spinning helps wide fan-out from one task (spawning 1M tasks: 5-10x fewer context switches,
  // ~10% faster), but it costs channel-heavy loads more (4 producers into one mpsc channel on 2
  // workers: 2-3x slower with 20 us), so it is opt-in.
  std::chrono::microseconds spin_before_park{0};

  // Called on each worker thread when it starts and before it exits (e.g. to pin or name it).
  std::function<void(unsigned worker)> on_worker_start = {};
  std::function<void(unsigned worker)> on_worker_stop = {};

  // Blocking and hung task reports; on by default (see WatchdogOptions).
  WatchdogOptions watchdog = {};

  // Logger for task lifecycle (debug), failures (error) and runtime events; null: spdlog's default.
  std::shared_ptr<spdlog::logger> logger = {};
};

}  // namespace tether

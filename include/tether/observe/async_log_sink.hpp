// tether/observe/async_log_sink.hpp
//
// AsyncLogSink: an spdlog sink that hands each line to a background thread through a bounded
// queue, so that logging never blocks a worker on a slow terminal, file or disk. When the queue is
// full the line is dropped, not waited for: drops are counted (dropped()), and reported by the
// sink itself as a warn line through its targets, at most once per `report_interval` while drops
// continue, and once more when the sink closes.
//
//   AsyncLogSinkOptions   queue capacity, drop-report interval
//   AsyncLogSink          the sink; wraps any spdlog sinks (the "targets") that do the writing
//   make_async_logger()   an spdlog logger writing through a new AsyncLogSink
//
// A runtime logs through it like through any logger (RuntimeOptions::logger); every line a task
// writes through the runtime carries `task=<id> task_name="<name>"`, added before the line is
// queued (so the fields are the writing task's, whichever thread formats the line later):
//
//   auto logger = tether::observe::make_async_logger("app", {std::make_shared<spdlog::sinks::stderr_sink_mt>()});
//   tether::Runtime rt({.logger = logger});
//
// When to use something else: tests and tools that want each line written before the call
// returns use an ordinary synchronous sink. spdlog's own async logger blocks (or overwrites the
// oldest line silently) when full; this one never blocks and always says what it dropped.
//
// Thread safety: thread-safe: log() may be called from any number of threads at once. It copies
//   the line into the queue under a lock held for a few pointer swaps (no I/O, no allocation under
//   the lock). Targets are called from the sink's one background thread only.
// Lifetime: close() (or destruction) writes every line still queued, the final drop report, and
//   joins the background thread; lines logged after close() are dropped and counted.
// Allocation: one copy of the logger name and of the message per line, outside the lock.
// Example: examples/observe/metrics_server.cpp
#pragma once

#include <spdlog/logger.h>
#include <spdlog/sinks/sink.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tether/core/detail/sync_shim.hpp"

namespace tether::observe {

struct AsyncLogSinkOptions {
  // Lines queued at most. Larger absorbs longer bursts at the cost of memory (each queued line
  // holds its text); a full queue drops new lines.
  std::size_t capacity = 8192;
  // While lines are being dropped, a report is written at most this often.
  std::chrono::milliseconds report_interval{10'000};
};

class AsyncLogSink final : public spdlog::sinks::sink {
 public:
  explicit AsyncLogSink(std::vector<spdlog::sink_ptr> targets, AsyncLogSinkOptions options = {});
  ~AsyncLogSink() override;
  AsyncLogSink(const AsyncLogSink&) = delete;
  AsyncLogSink& operator=(const AsyncLogSink&) = delete;

  // spdlog::sinks::sink. log() queues the line or drops it; it never waits for the writer.
  void log(const spdlog::details::log_msg& msg) override;
  // Asks the background thread to flush the targets after its current batch; does not wait.
  void flush() override;
  void set_pattern(const std::string& pattern) override;
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override;

  // Writes what is queued, the final drop report, and stops the background thread. Idempotent.
  void close();

  // Lines dropped because the queue was full (or the sink closed), since construction.
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  // Lines handed to the targets, since construction (drop reports not included).
  std::uint64_t written() const noexcept { return written_.load(std::memory_order_relaxed); }
  std::size_t capacity() const noexcept { return ring_.size(); }

 private:
  struct Line {
    spdlog::log_clock::time_point time;
    spdlog::source_loc source;
    spdlog::level::level_enum level = spdlog::level::info;
    std::size_t thread_id = 0;
    std::string logger_name;
    std::string payload;
  };
  void run();
  void write(const Line& line);
  void report_drops(bool final);

  // Constant after construction
  const std::vector<spdlog::sink_ptr> targets_;
  const AsyncLogSinkOptions options_;
  // Atomic: statistics, relaxed (nothing is published through them)
  detail::Atomic<std::uint64_t> dropped_{0};
  detail::Atomic<std::uint64_t> written_{0};
  detail::Atomic<bool> flush_requested_{false};

  std::mutex mu_;
  std::condition_variable wake_;
  // Guarded by mu_
  std::vector<Line> ring_;  // capacity slots; [head_, head_ + size_) hold queued lines
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  bool writer_waiting_ = false;
  bool closing_ = false;

  // Access: only by the background thread
  std::uint64_t reported_ = 0;
  std::chrono::steady_clock::time_point last_report_{};

  std::once_flag joined_;
  std::thread writer_;  // last: started once everything above is initialised
};

// A logger named `name` writing through a new AsyncLogSink over `targets`; its level is `level`.
std::shared_ptr<spdlog::logger> make_async_logger(std::string name, std::vector<spdlog::sink_ptr> targets,
                                                  AsyncLogSinkOptions options = {},
                                                  spdlog::level::level_enum level = spdlog::level::info);

}  // namespace tether::observe

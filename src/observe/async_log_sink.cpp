// Protocol:
//  1. log() builds the Line outside the lock (the copies allocate), then under mu_ either swaps it
//     into the free slot at head_ + size_ or, when size_ == capacity (or closing_), counts a drop.
//     It notifies the writer only if the writer said it was waiting (writer_waiting_), after
//     unlocking: a steady stream of lines costs no syscalls.
//  2. The writer, under mu_, swaps every queued Line out into its own batch (size_ -> 0), then
//     writes the batch to the targets without the lock; so a slow target only ever holds up the
//     writer, and the queue refills while it writes.
//  3. When the queue is empty the writer sets writer_waiting_ and waits; while drops are pending a
//     report, it waits at most until the report is due.
//  4. close() sets closing_ and wakes the writer, which drains what is queued, writes the final
//     report and exits; close() joins it.
#include "tether/observe/async_log_sink.hpp"

#include <spdlog/details/log_msg.h>
#include <spdlog/details/os.h>

#include <fmt/format.h>

#include <utility>

namespace tether::observe {

AsyncLogSink::AsyncLogSink(std::vector<spdlog::sink_ptr> targets, AsyncLogSinkOptions options)
    : targets_(std::move(targets)), options_(options), ring_(options.capacity ? options.capacity : 1) {
  last_report_ = std::chrono::steady_clock::now();  // the first report waits one interval too
  writer_ = std::thread([this] { run(); });
}

AsyncLogSink::~AsyncLogSink() { close(); }

void AsyncLogSink::log(const spdlog::details::log_msg& msg) {
  if (!should_log(msg.level)) return;
  Line line{msg.time,
            msg.source,
            msg.level,
            msg.thread_id,
            std::string(msg.logger_name.data(), msg.logger_name.size()),
            std::string(msg.payload.data(), msg.payload.size())};
  bool wake = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (closing_ || size_ == ring_.size()) {
      dropped_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
      return;
    }
    std::swap(ring_[(head_ + size_) % ring_.size()], line);  // rule 1: no allocation under the lock
    ++size_;
    wake = std::exchange(writer_waiting_, false);
  }
  if (wake) wake_.notify_one();
  // `line` now holds the slot's previous (moved-from or stale) strings, freed here, unlocked.
}

void AsyncLogSink::flush() {
  flush_requested_.store(true, std::memory_order_relaxed);  // relaxed: a hint; see run()
}

void AsyncLogSink::set_pattern(const std::string& pattern) {
  for (const auto& t : targets_) t->set_pattern(pattern);
}

void AsyncLogSink::set_formatter(std::unique_ptr<spdlog::formatter> formatter) {
  for (const auto& t : targets_) t->set_formatter(formatter->clone());
}

void AsyncLogSink::close() {
  {
    std::lock_guard<std::mutex> g(mu_);
    closing_ = true;
  }
  wake_.notify_one();
  // Concurrent close() calls wait here for the first one to finish joining.
  std::call_once(joined_, [this] { writer_.join(); });
}

void AsyncLogSink::write(const Line& line) {
  spdlog::details::log_msg msg(line.time, line.source, line.logger_name, line.level, line.payload);
  msg.thread_id = line.thread_id;
  for (const auto& t : targets_) {
    try {
      if (t->should_log(msg.level)) t->log(msg);
    } catch (...) {
      // A failing target must not stop the writer: the line is lost for that target only.
    }
  }
}

void AsyncLogSink::report_drops(bool final) {
  std::uint64_t dropped = dropped_.load(std::memory_order_relaxed);
  if (dropped == reported_) return;
  auto now = std::chrono::steady_clock::now();
  if (!final && now - last_report_ < options_.report_interval) return;
  std::string text = fmt::format("async log sink dropped {} line(s) under overload ({} in total{})",
                                 dropped - reported_, dropped, final ? ", at close" : "");
  Line line{spdlog::log_clock::now(), {}, spdlog::level::warn, spdlog::details::os::thread_id(), "tether", text};
  write(line);
  reported_ = dropped;
  last_report_ = now;
}

void AsyncLogSink::run() {
  std::vector<Line> batch;
  batch.reserve(ring_.size());
  for (;;) {
    bool closing;
    {
      std::unique_lock<std::mutex> g(mu_);
      while (size_ == 0 && !closing_) {
        writer_waiting_ = true;  // rule 3
        if (dropped_.load(std::memory_order_relaxed) != reported_) {
          wake_.wait_until(g, last_report_ + options_.report_interval);
          if (size_ == 0 && !closing_) break;  // a report may be due
        } else {
          wake_.wait(g);
        }
      }
      writer_waiting_ = false;
      closing = closing_;
      // Rule 2: take the whole queue.
      batch.resize(size_);
      for (std::size_t i = 0; i < size_; ++i) std::swap(batch[i], ring_[(head_ + i) % ring_.size()]);
      head_ = (head_ + size_) % ring_.size();
      size_ = 0;
    }
    for (const Line& line : batch) write(line);
    written_.fetch_add(batch.size(), std::memory_order_relaxed);  // relaxed: a statistic
    report_drops(closing);
    if (closing || flush_requested_.exchange(false, std::memory_order_relaxed)) {
      for (const auto& t : targets_) {
        try {
          t->flush();
        } catch (...) {
        }
      }
    }
    if (closing) return;
  }
}

std::shared_ptr<spdlog::logger> make_async_logger(std::string name, std::vector<spdlog::sink_ptr> targets,
                                                  AsyncLogSinkOptions options, spdlog::level::level_enum level) {
  auto sink = std::make_shared<AsyncLogSink>(std::move(targets), options);
  auto logger = std::make_shared<spdlog::logger>(std::move(name), std::move(sink));
  logger->set_level(level);
  return logger;
}

}  // namespace tether::observe

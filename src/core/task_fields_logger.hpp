// Internal; not part of the public API.
//
// TaskFieldsLogger: the logger a runtime writes through. It forwards every line to the logger the
// user chose (RuntimeOptions::logger, or spdlog's default), prefixed with the structured fields of
// the task that wrote it when there is one:
//
//   task=17 task_name="worker.cpp:42" <message>
//
// The fields go into the message rather than into a pattern flag so that they survive whatever
// sinks and patterns the target logger has, including an asynchronous sink that formats later on
// another thread (tether/observe/async_log_sink.hpp).
//
// Thread safety: thread-safe, like any spdlog logger.
#pragma once

#include <spdlog/logger.h>

#include <memory>

namespace tether::detail {

class TaskFieldsLogger final : public spdlog::logger {
 public:
  // Takes the target's name, level and flush level as they are now (the runtime reads the level
  // once, when it is built, to decide whether lifecycle lines are wanted at all).
  explicit TaskFieldsLogger(std::shared_ptr<spdlog::logger> target);

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  std::shared_ptr<spdlog::logger> target_;
};

// Appends ` task=<id> task_name="<name>"`-style fields for the calling task, if any, to `out`, each
// followed by a space. Returns false (and appends nothing) outside a task.
bool append_task_fields(spdlog::memory_buf_t& out);

}  // namespace tether::detail

#include "task_fields_logger.hpp"

#include <spdlog/spdlog.h>

#include <iterator>
#include <string>

#include "tether/core/detail/task_header.hpp"

namespace tether::detail {

bool append_task_fields(spdlog::memory_buf_t& out) {
  TaskHeader* t = current_task();
  if (!t) return false;
  fmt::format_to(std::back_inserter(out), "task={} task_name=\"", t->id());
  // Quoted, with backslash escapes, so that a name with spaces or quotes stays one field.
  for (char c : t->display_name()) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.push_back('\\');
      out.push_back('n');
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  out.push_back(' ');
  return true;
}

TaskFieldsLogger::TaskFieldsLogger(std::shared_ptr<spdlog::logger> target)
    : spdlog::logger(target->name()), target_(std::move(target)) {
  set_level(target_->level());
  flush_on(target_->flush_level());
}

void TaskFieldsLogger::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t buf;
  if (!append_task_fields(buf)) {
    target_->log(msg.time, msg.source, msg.level, msg.payload);
    return;
  }
  buf.append(msg.payload.data(), msg.payload.data() + msg.payload.size());
  target_->log(msg.time, msg.source, msg.level, spdlog::string_view_t(buf.data(), buf.size()));
}

void TaskFieldsLogger::flush_() { target_->flush(); }

}  // namespace tether::detail

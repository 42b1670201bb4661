// tether/core/this_task.hpp
//
// Facts about the calling task: its id, its name, and whether it has been cancelled. Outside a task
// each returns an empty value (0, "", false).
//
// Thread safety: n/a (reads the calling task's own state).
#pragma once

#include <cstdint>
#include <string>

namespace tether::this_task {

std::uint64_t id() noexcept;
std::string name();
// True if the task's current scope is cancelled: its next suspension will throw Cancelled.
bool is_cancelled() noexcept;

}  // namespace tether::this_task

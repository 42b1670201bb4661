// Internal to src/observe: reading a task's state and async backtrace under its inspection claim
// (task_header.hpp rule 4), and naming frames. Shared by dump_tasks() and the watchdog.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "tether/core/detail/runtime_core.hpp"
#include "tether/observe/task_dump.hpp"

namespace tether::observe::detail {

// What inspect() read besides the snapshot, for the watchdog.
struct InspectExtra {
  std::uint64_t last_run_epoch = 0;
};

// Serialises inspectors (a task has one inspection claim), process-wide. Held while claiming and
// copying, never while symbolising.
std::mutex& inspection_mutex();

// Fills `out` for live task `t` (the caller holds a reference and inspection_mutex()). Frames are
// addresses only; symbolize() names them. Returns false if the task has completed.
bool inspect(tether::detail::RuntimeCore& core, tether::detail::TaskHeader* t, TaskSnapshot& out,
             InspectExtra* extra = nullptr);

// The few fields the hung check filters on, read under the claim without allocating. Returns false
// if the task is running, ready or complete (nothing to judge).
struct WaitPeek {
  std::uint64_t last_run_epoch = 0;
  const char* waiting_on = nullptr;
  bool has_deadline = false;
};
bool peek_waiting(tether::detail::TaskHeader* t, WaitPeek& out);

// Names every frame of `frames` (cached per resume function).
void symbolize(std::vector<AsyncFrame>& frames, bool source_lines);

}  // namespace tether::observe::detail

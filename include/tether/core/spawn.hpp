// tether/core/spawn.hpp
//
// spawn(): runs a Task concurrently as an independent task of the current runtime and returns its
// JoinHandle. Every task has an id and a name (by default, the source location of the spawn call),
// and a cancellation token that is a child of the spawner's.
//
//   SpawnOptions       name and parent token of a new task
//   spawn()            start a task; [[nodiscard]]: keep the handle, or say detach() out loud
//   spawn_detached()   start a fire-and-forget task (no handle; its failure is logged)
//
// When to use something else: for many tasks that should end together, TaskTracker / JoinSet /
// scope (tether/task/) track them for you; for blocking or CPU-heavy code, blocking.hpp.
//
// Thread safety: spawn() is thread-safe; outside a runtime it throws Error.
// Example: examples/core/hello.cpp
#pragma once

#include <source_location>
#include <string_view>

#include "tether/core/cancellation_token.hpp"
#include "tether/core/detail/runtime_core.hpp"
#include "tether/core/error.hpp"
#include "tether/core/join_handle.hpp"
#include "tether/core/task.hpp"

namespace tether {

struct SpawnOptions {
  // Shown in logs, task dumps and shutdown reports. Default: "file:line" of the spawn call.
  std::string_view name = {};
  // Parent token; the task is cancelled when it is. Default: the spawning task's current scope,
  // or the runtime's root token when spawning from outside a task.
  const CancellationToken* token = nullptr;
};

namespace detail {

// A new task, not yet started: its cell, under the spawning task's scope unless `opts` names a token.
template <class T>
TaskCell<T>* new_task_cell(RuntimeCore* core, Task<T>&& task, const SpawnOptions& opts, const std::source_location& loc,
                           const char* what) {
  if (!task.valid()) throw Error(std::string(what) + " of an empty Task");
  CancelState* parent = nullptr;
  if (opts.token) {
    parent = opts.token->state();
  } else if (TaskHeader* self = current_task(); self && self->core() == core) {
    parent = self->scope;
  } else {
    parent = core->root();
  }
  return new TaskCell<T>(core, parent, core->next_task_id(), loc, opts.name, task.release());
}

inline void start_task(RuntimeCore* core, TaskHeader* cell) noexcept {
  core->on_task_spawned(cell);
  core->schedule(cell, ScheduleHint::kSpawn);
}

// Starts a task with a join cell. Returns the join cell with one reference for the caller.
template <class T>
JoinCell<T>* spawn_cell(RuntimeCore* core, Task<T>&& task, const SpawnOptions& opts, const std::source_location& loc,
                        SelectGroup* group = nullptr, int branch = SelectGroup::kNone) {
  // The join cell's memory first, so that nothing can fail once the task exists.
  void* join_memory = frame_alloc(sizeof(JoinCell<T>));
  TaskCell<T>* cell;
  try {
    cell = new_task_cell(core, std::move(task), opts, loc, "spawn()");
  } catch (...) {
    frame_free(join_memory, sizeof(JoinCell<T>));
    throw;
  }
  // Two references on the join cell (the task's and the caller's) and two on the task (its run's and
  // the join cell's), all taken before the task can run and finish (join_cell.hpp rules 1, 2).
  auto* join = ::new (join_memory) JoinCell<T>(cell, cell->id());
  cell->set_join_cell(join);
  cell->add_ref();
  cell->select_group = group;
  cell->select_branch = static_cast<std::int16_t>(branch);
  start_task(core, cell);
  return join;
}

// Starts a task without a join cell: nobody can await it, and a failure is logged when it happens.
template <class T>
void spawn_detached_cell(RuntimeCore* core, Task<T>&& task, const SpawnOptions& opts, const std::source_location& loc) {
  start_task(core, new_task_cell(core, std::move(task), opts, loc, "spawn_detached()"));
}

inline RuntimeCore* require_runtime(const char* what) {
  RuntimeCore* core = RuntimeCore::current();
  if (!core) throw Error(std::string(what) + " called outside a tether runtime");
  return core;
}

}  // namespace detail

// spawn()
//
// Starts `task` on the current runtime. Returns its JoinHandle.
// Throws: Error outside a runtime. REQUIRES: `task` is a fresh, never-awaited Task.
// Allocation: a task cell and a join cell (both from the frame allocator) besides the task's own frame.
template <class T>
[[nodiscard]] JoinHandle<T> spawn(Task<T> task, SpawnOptions opts = {},
                                  std::source_location loc = std::source_location::current()) {
  detail::RuntimeCore* core = detail::require_runtime("spawn()");
  return JoinHandle<T>(detail::spawn_cell(core, std::move(task), opts, loc));
}

// spawn_detached()
//
// Starts `task` on the current runtime with no handle: fire-and-forget, for work whose result and
// end nobody awaits. A failure is logged at error level with the task's name and id when it
// happens, exactly as for a detached handle; cancellation reaches it through its parent token.
// Prefer spawn() when the caller needs the result or must know when the task ended, and a
// TaskTracker (tether/task/) for background work that shutdown must wait for.
// Throws: Error outside a runtime. REQUIRES: `task` is a fresh, never-awaited Task.
// Allocation: a task cell besides the task's own frame; no join cell, so a task parked for a long
// time costs less than one from spawn(...).detach().
template <class T>
void spawn_detached(Task<T> task, SpawnOptions opts = {}, std::source_location loc = std::source_location::current()) {
  detail::RuntimeCore* core = detail::require_runtime("spawn_detached()");
  detail::spawn_detached_cell(core, std::move(task), opts, loc);
}

}  // namespace tether

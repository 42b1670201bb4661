// tether/observe/task_dump.hpp
//
// dump_tasks(): every live task of a runtime, with its state, what it waits on, its age, and its
// async backtrace: the chain of coroutine frames from the task's root down to the frame that
// awaits, named by function (and file:line where the binary has debug info).
//
//   AsyncFrame     one coroutine frame of an async backtrace
//   TaskSnapshot   one task: id, name, spawn location, state, waiting on, age, backtrace
//   TaskDump       all of them, with to_string() for logs
//   DumpOptions    whether to symbolise, and whether to look up file:line
//   dump_tasks()   take a dump now
//
// How it stays cheap: nothing is recorded per suspension. Each Task<T> frame that awaits another
// Task links the child in its promise (two stores per await), so a dump can walk from the root
// down. A dump walks a task only while it holds the task's inspection claim, which keeps the task
// from being resumed (a few microseconds per task); a running task is reported as "running on
// thread N" without frames, since its frames change under it. Names are resolved after every
// claim is released: dladdr() and the demangler, plus one `addr2line` run per binary for
// file:line and for functions the dynamic symbol table does not export (results are cached).
//
// Frame names: a frame is named after the function of the coroutine (the compiler's resume
// function, with its "[clone .actor]" / "(.resume)" suffix removed); its line is where that
// function begins, not the line of the co_await.
//
// When to use something else: Runtime::tasks() gives id, name, age and what a task waits on,
// without frames, for a cheap count; the watchdog (watchdog.hpp) dumps the tasks that look stuck
// by itself; DumpOnSignal (dump_on_signal.hpp) dumps when the process receives a signal.
//
// Thread safety: thread-safe; call it from any thread, including a task (which then sees itself
//   running). REQUIRES: the Runtime outlives the call.
// Cost: only when called. With symbolisation the first dump of a binary runs addr2line (tens to
//   hundreds of milliseconds on a large debug binary); call it from a plain thread or through
//   spawn_blocking, never on a worker in a latency-critical path.
// Example: tests/observe/dump_test.cpp; apps/tether-kv (SIGUSR1).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "tether/core/runtime.hpp"

namespace tether::observe {

// One coroutine frame. Plain value.
struct AsyncFrame {
  const void* frame = nullptr;   // the coroutine frame's address
  const void* resume = nullptr;  // its resume function (what is symbolised)
  std::string function{};        // demangled, without the compiler's coroutine suffix; "" unknown
  std::string file{};            // source file where debug info exists, else ""
  unsigned line = 0;             // line where the coroutine's function begins; 0 unknown
};

enum class TaskState : std::uint8_t {
  kRunning,  // on a thread right now: no frames (they change while it runs)
  kReady,    // queued to run; frames as of its last suspension
  kWaiting,  // suspended on `waiting_on`
};

const char* to_string(TaskState s) noexcept;

// One task. Plain value.
struct TaskSnapshot {
  std::uint64_t id = 0;
  std::string name;        // SpawnOptions::name, or the spawn location
  std::string spawned_at;  // "file:line" of the spawn call
  TaskState state = TaskState::kReady;
  std::string waiting_on;     // "recv", "mutex", "sleep", "join", ...; "" if none recorded
  int thread = -1;            // kRunning: the runtime's thread index running it (-1 unknown)
  bool started = true;        // false: spawned, never run yet
  bool has_deadline = false;  // a timeout scope encloses its current wait
  std::chrono::milliseconds age{0};
  // Root first, the frame that awaits last. Empty for running tasks.
  std::vector<AsyncFrame> backtrace;

  // "task 7 'worker' (spawned at main.cpp:40) waiting on recv, age 1200ms" and one line per frame.
  std::string to_string() const;
};

// A whole dump. Plain value.
struct TaskDump {
  std::vector<TaskSnapshot> tasks;  // in no particular order
  std::string to_string() const;
  // The snapshot of task `id`, or null.
  const TaskSnapshot* find(std::uint64_t id) const noexcept;
};

struct DumpOptions {
  // Name frames by function. Off: only addresses (cheapest; e.g. for a dump into a crash log).
  bool symbolize = true;
  // Also look up file:line (and functions missing from the dynamic symbol table) with addr2line,
  // when it is installed.
  bool source_lines = true;
};

// dump_tasks()
//
// Every live task of `rt` right now. Tasks never see it: each is held from running only while its
// frames are read.
TaskDump dump_tasks(Runtime& rt, DumpOptions options = {});

}  // namespace tether::observe

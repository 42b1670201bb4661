// tether/observe/dump_on_signal.hpp
//
// DumpOnSignal: an opt-in "kill -USR1 <pid>" that logs a task dump (task_dump.hpp) of a running
// program, the way a JVM prints its threads on SIGQUIT.
//
//   DumpOnSignal   while alive, each delivery of the signal logs dump_tasks(rt) at warn level
//
//   tether::Runtime rt;
//   tether::observe::DumpOnSignal dumps(rt, SIGUSR1);  // declare after the Runtime
//
// How: the signal goes through io::Signals (a self-pipe; the handler only writes a byte), a task
// on `rt` waits for it, and the dump itself (inspection and symbolisation, which may take a while
// the first time) runs on the blocking pool, so no worker is held up.
//
// When to use something else: dump_tasks() to take a dump from your own code (an admin command,
// a health endpoint); the watchdog (watchdog.hpp) for the tasks that look stuck, by itself.
//
// Thread safety: created and destroyed by one thread, outside any task of `rt`.
// Lifetime: the Runtime must outlive it. Destroying it stops listening: the task is aborted and
//   awaited. The signal keeps tether's handler (counting into the self-pipe) afterwards.
// Example: apps/tether-kv/main.cpp
#pragma once

#include <csignal>
#include <functional>

#include "tether/core/join_handle.hpp"
#include "tether/core/runtime.hpp"
#include "tether/observe/task_dump.hpp"

namespace tether::observe {

class DumpOnSignal {
 public:
  // Starts listening for `signo` now. `sink` receives each dump (on a blocking-pool thread);
  // by default it is logged at warn level through the runtime's logger. Throws io::Error if the
  // handler cannot be installed.
  explicit DumpOnSignal(Runtime& rt, int signo = SIGUSR1, std::function<void(const TaskDump&)> sink = {},
                        DumpOptions options = {});
  ~DumpOnSignal();
  DumpOnSignal(const DumpOnSignal&) = delete;
  DumpOnSignal& operator=(const DumpOnSignal&) = delete;

 private:
  Runtime& rt_;
  JoinHandle<void> listener_;
};

}  // namespace tether::observe

// DumpOnSignal: a task that waits for the signal and takes each dump on the blocking pool.
#include "tether/observe/dump_on_signal.hpp"

#include <spdlog/spdlog.h>

#include "tether/core/blocking.hpp"
#include "tether/core/error.hpp"
#include "tether/io/signal.hpp"
#include "tether/time/deadline.hpp"

namespace tether::observe {
namespace {

Task<> listen(Runtime* rt, io::Signals signals, std::function<void(const TaskDump&)> sink, DumpOptions options) {
  for (;;) {
    Task<int> next = signals.recv(Deadline::never());  // a signal has no bound; said by name
    int signo = co_await std::move(next);
    // Copies, not references: the job must not depend on this frame (cancellation may end it first).
    auto job = [rt, sink, options, signo] {
      TaskDump dump = dump_tasks(*rt, options);
      if (sink) {
        sink(dump);
      } else {
        rt->core().logger().warn("task dump on signal {}: {}", signo, dump.to_string());
      }
    };
    co_await spawn_blocking(std::move(job));
  }
}

Task<> await_end(JoinHandle<void> h) { co_await h; }

// io::Signals binds to the runtime of the calling thread; the constructor runs outside any, so it
// names `rt` for the duration. Created here, not in the task, so that deliveries are counted from
// the constructor on, even before the task first runs.
io::Signals signals_on(Runtime& rt, int signo) {
  tether::detail::RuntimeCore* previous = tether::detail::RuntimeCore::current();
  tether::detail::RuntimeCore::set_current(&rt.core());
  try {
    io::Signals s({signo});
    tether::detail::RuntimeCore::set_current(previous);
    return s;
  } catch (...) {
    tether::detail::RuntimeCore::set_current(previous);
    throw;
  }
}

}  // namespace

DumpOnSignal::DumpOnSignal(Runtime& rt, int signo, std::function<void(const TaskDump&)> sink, DumpOptions options)
    : rt_(rt),
      listener_(rt.spawn(listen(&rt, signals_on(rt, signo), std::move(sink), options), {.name = "dump-on-signal"})) {}

DumpOnSignal::~DumpOnSignal() {
  listener_.abort();
  try {
    rt_.block_on(await_end(std::move(listener_)));
  } catch (...) {
    // Cancelled is the expected end; a runtime already shut down refuses new work, which is fine too.
  }
}

}  // namespace tether::observe

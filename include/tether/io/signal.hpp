// tether/io/signal.hpp
//
// POSIX signals as awaitable events, and the usual shutdown on SIGINT/SIGTERM.
//
//   Signals           co_await a set of signals (recv() returns which one arrived)
//   ShutdownOnSignal  first SIGINT/SIGTERM -> Runtime::shutdown(grace); a second -> exit at once
//
// Delivery goes through one process-wide self-pipe: the handler (async-signal-safe) counts the
// signal and writes a byte; every Signals object watches a duplicate of the pipe's read end through
// the reactor. So any number of Signals objects, on any runtimes, see every delivery after their
// creation. Signals that arrive close together may be merged by the kernel (POSIX semantics).
//
// When to use something else: SIGCHLD for your children is handled by Child::wait() (process.hpp).
//
// Thread safety: Signals is confined to one task at a time; ShutdownOnSignal is created and
//   destroyed by one thread.
// Example: examples/io/graceful_shutdown.cpp
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <thread>
#include <vector>

#include "tether/core/task.hpp"
#include "tether/io/detail/async_fd.hpp"
#include "tether/time/deadline.hpp"

namespace tether {
class Runtime;
}

namespace tether::io {

class Signals {
 public:
  // Installs tether's handler for each of `signos` (replacing any previous disposition for them),
  // and starts counting deliveries from now. Throws io::Error.
  explicit Signals(std::initializer_list<int> signos);
  Signals(Signals&&) noexcept = default;
  Signals& operator=(Signals&&) noexcept = default;

  // recv()
  //
  // Waits for the next delivery of one of the signals. Waiting for a signal usually has no bound;
  // say so: recv(Deadline::never()).
  // Returns: the signal number | Throws: TimedOut("wait for signal"), Cancelled
  // Cancellation: Cancel-safe: nothing was consumed (a delivery stays counted for the next recv).
  [[nodiscard]] Task<int> recv(Deadline deadline);

 private:
  std::optional<int> take();
  ::tether::detail::AsyncFd io_;
  std::vector<int> signos_;
  std::vector<std::uint64_t> seen_;
};

struct ShutdownOnSignalOptions {
  std::chrono::milliseconds grace{10'000};  // passed to Runtime::shutdown
  int exit_code_on_second = 130;            // _exit code when a second signal arrives
};

// ShutdownOnSignal
//
// While alive, the first SIGINT or SIGTERM makes a helper thread call rt.shutdown(grace): every task
// is cancelled and the runtime waits up to `grace` for them (shielded in-flight work finishes), and
// the report of any task still alive is logged. A second SIGINT/SIGTERM exits the process at once
// with _exit(exit_code_on_second). Declare it after the Runtime so that it is destroyed first.
// While it lives, the thread that created it blocks SIGINT/SIGTERM (threads started before keep
// receiving them), so delivery goes to a thread waiting in the reactor or to the helper.
// triggered() says whether a signal came (e.g. to choose the exit code).
class ShutdownOnSignal {
 public:
  ShutdownOnSignal(Runtime& rt, ShutdownOnSignalOptions options = {});
  ~ShutdownOnSignal();
  ShutdownOnSignal(const ShutdownOnSignal&) = delete;
  ShutdownOnSignal& operator=(const ShutdownOnSignal&) = delete;

  bool triggered() const noexcept;
  // Whether the shutdown left no task alive (meaningful once triggered()).
  bool clean() const noexcept;

 private:
  struct State;
  State* state_;
  std::thread thread_;
};

}  // namespace tether::io

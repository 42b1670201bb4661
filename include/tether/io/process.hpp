// tether/io/process.hpp
//
// Subprocesses with deadlines: spawn with arguments, environment and working directory; stdin,
// stdout and stderr as async pipes; wait with a deadline. A child is never left behind: when the
// wait times out or the waiting task is cancelled, or the Child is destroyed unwaited, the child is
// killed (SIGKILL) and reaped, so no zombie remains.
//
//   Stdio       kInherit | kNull | kPipe, per stream
//   Command     what to run (designated initialisers)
//   ExitStatus  exit code or terminating signal
//   Output      status + captured stdout/stderr
//   Child       a running child: pid, in/out/err pipes, wait(), signal(), kill()
//   spawn()     start a Command;  run()  spawn + collect output + wait, in one deadline
//
// Exit is observed through a pidfd (pidfd_open, Linux 5.3+) registered with the reactor, so no
// thread waits for the child; without pidfds, wait() polls waitid(WNOHANG) with a back-off of 1 to
// 50 ms.
//
// When to use something else: a long-running helper you talk to over a socket is a UnixStream.
//
// Thread safety: Child is confined to one task at a time.
// Lifetime: destroying a Child that was not reaped kills and reaps it.
// Example: examples/io/subprocess.cpp
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tether/core/task.hpp"
#include "tether/io/detail/async_fd.hpp"
#include "tether/io/io_timeout.hpp"
#include "tether/io/pipe.hpp"
#include "tether/time/deadline.hpp"

namespace tether::io {

enum class Stdio { kInherit, kNull, kPipe };

struct Command {
  std::string program;                                        // a path, or a name looked up in PATH
  std::vector<std::string> args = {};                         // argv[1..]
  std::vector<std::pair<std::string, std::string>> env = {};  // set (or override) these
  bool clear_env = false;                                     // start from an empty environment
  std::string cwd = {};                                       // working directory ("" = ours)
  Stdio in = Stdio::kInherit;
  Stdio out = Stdio::kInherit;
  Stdio err = Stdio::kInherit;
};

struct ExitStatus {
  int code = -1;   // exit code, or -1 if killed by a signal
  int signal = 0;  // the terminating signal, or 0
  bool success() const noexcept { return code == 0; }
};

struct Output {
  ExitStatus status;
  std::string out;
  std::string err;
};

class Child {
 public:
  Child() noexcept = default;
  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  pid_t pid() const noexcept { return pid_; }
  // The pipes requested with Stdio::kPipe (empty otherwise); move them out to use them elsewhere.
  std::optional<PipeWriter> in;
  std::optional<PipeReader> out;
  std::optional<PipeReader> err;

  // wait()
  //
  // Waits for the child to exit and reaps it.
  // Returns: its ExitStatus | Throws: TimedOut("wait for pid N (program)"), Cancelled; in both
  //   cases the child has been killed and reaped before the exception leaves.
  // Cancellation: Not cancel-safe: the child is killed; use a longer deadline to let it finish.
  [[nodiscard]] Task<ExitStatus> wait(Deadline deadline);
  [[nodiscard]] Task<ExitStatus> wait() { return wait(timeout_.deadline()); }
  // Sends `signo` (no-op once reaped). Throws io::Error.
  void signal(int signo);
  // SIGKILL, then reap. Blocks the calling thread for the kernel's teardown of the killed child
  // (normally well under a millisecond). Returns its status (or the one already reaped).
  ExitStatus kill_and_reap() noexcept;
  // Reaps the child if it has exited, without waiting.
  std::optional<ExitStatus> try_wait();
  bool reaped() const noexcept { return pid_ <= 0 || status_.has_value(); }

  void set_timeout(IoTimeout t) noexcept { timeout_ = t; }

 private:
  friend Child spawn(const Command& cmd);
  std::string describe() const;

  pid_t pid_ = -1;
  std::string program_;
  ::tether::detail::AsyncFd pidfd_;  // invalid where pidfds are unavailable
  std::optional<ExitStatus> status_;
  IoTimeout timeout_;
};

// spawn()
//
// Starts `cmd`. Returns: the Child | Throws: io::Error (kNotFound if the program does not exist).
// Does not suspend (posix_spawn is quick); REQUIRES: called on a runtime thread (the pipes register).
Child spawn(const Command& cmd);

// run()
//
// Spawns `cmd` with stdin from /dev/null and stdout and stderr piped, collects
// both, and waits, all within `deadline`. Throws: as spawn() and Child::wait().
// Cancellation: Not cancel-safe: the child is killed and its output dropped.
[[nodiscard]] Task<Output> run(Command cmd, Deadline deadline);

}  // namespace tether::io

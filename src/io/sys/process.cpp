// Subprocesses; see include/tether/io/process.hpp.
//
// Reaping protocol: a Child owns its pid until status_ is set. Only the Child reaps (waitid on its
// own pid), so a pid is never reaped twice or confused with a recycled one. Every path that gives
// up on waiting (timeout, cancellation, destruction) goes through kill_and_reap(), which sends
// SIGKILL and then waits for the exit synchronously: SIGKILL cannot be caught, so that wait is the
// kernel's teardown only.
#include "tether/io/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "tether/core/spawn.hpp"
#include "tether/io/error.hpp"
#include "tether/time/sleep.hpp"

extern char** environ;

namespace tether::io {

namespace {

int pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  errno = ENOSYS;
  return -1;
#endif
}

ExitStatus from_siginfo(const siginfo_t& info) {
  ExitStatus s;
  if (info.si_code == CLD_EXITED) {
    s.code = info.si_status;
  } else {
    s.signal = info.si_status;
  }
  return s;
}

struct Fds {
  int fd[2] = {-1, -1};
  ~Fds() {
    for (int f : fd) {
      if (f >= 0) ::close(f);
    }
  }
  int take(int i) { return std::exchange(fd[i], -1); }
};

}  // namespace

Child::Child(Child&& o) noexcept
    : in(std::move(o.in)),
      out(std::move(o.out)),
      err(std::move(o.err)),
      pid_(std::exchange(o.pid_, -1)),
      program_(std::move(o.program_)),
      pidfd_(std::move(o.pidfd_)),
      status_(o.status_),
      timeout_(o.timeout_) {}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    if (!reaped()) kill_and_reap();
    in = std::move(o.in);
    out = std::move(o.out);
    err = std::move(o.err);
    pid_ = std::exchange(o.pid_, -1);
    program_ = std::move(o.program_);
    pidfd_ = std::move(o.pidfd_);
    status_ = o.status_;
    timeout_ = o.timeout_;
  }
  return *this;
}

Child::~Child() {
  if (!reaped()) kill_and_reap();
}

std::string Child::describe() const { return "wait for pid " + std::to_string(pid_) + " (" + program_ + ")"; }

std::optional<ExitStatus> Child::try_wait() {
  if (status_) return status_;
  if (pid_ <= 0) return std::nullopt;
  siginfo_t info{};
  for (;;) {
    int r = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG);
    if (r == 0) break;
    if (errno == EINTR) continue;
    throw Error(errno, describe());
  }
  if (info.si_pid == 0) return std::nullopt;
  status_ = from_siginfo(info);
  pidfd_.close();
  return status_;
}

ExitStatus Child::kill_and_reap() noexcept {
  if (status_) return *status_;
  if (pid_ <= 0) return {};
  ::kill(pid_, SIGKILL);
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED) != 0 && errno == EINTR) {
  }
  status_ = from_siginfo(info);
  pidfd_.close();
  return *status_;
}

void Child::signal(int signo) {
  if (reaped()) return;
  if (::kill(pid_, signo) != 0) throw Error(errno, "signal pid " + std::to_string(pid_));
}

Task<ExitStatus> Child::wait(Deadline deadline) {
  struct KillOnExit {
    Child* c;
    ~KillOnExit() {
      if (!c->reaped()) c->kill_and_reap();  // timed out or cancelled: no child is left behind
    }
  } guard{this};
  auto backoff = std::chrono::milliseconds(1);
  for (;;) {
    if (!pidfd_.valid()) {
      // No pidfd: poll with a back-off.
      if (auto s = try_wait()) co_return *s;
      if (deadline.expired()) throw TimedOut(describe());
      co_await sleep(std::min<Clock::duration>(backoff, deadline.remaining()));
      backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
      continue;
    }
    std::uint64_t snap = pidfd_.snapshot(::tether::detail::IoDir::kRead);
    if (auto s = try_wait()) co_return *s;
    if (!co_await pidfd_.wait(::tether::detail::IoDir::kRead, snap, deadline)) throw TimedOut(describe());
  }
}

Child spawn(const Command& cmd) {
  detail::ignore_sigpipe_once();
  std::string what = "spawn " + cmd.program;
  Fds pipes[3];
  Stdio modes[3] = {cmd.in, cmd.out, cmd.err};
  for (int i = 0; i < 3; ++i) {
    if (modes[i] == Stdio::kPipe && ::pipe2(pipes[i].fd, O_CLOEXEC) != 0) throw Error(errno, what);
  }
  posix_spawn_file_actions_t fa;
  ::posix_spawn_file_actions_init(&fa);
  struct FaGuard {
    posix_spawn_file_actions_t* fa;
    ~FaGuard() { ::posix_spawn_file_actions_destroy(fa); }
  } fa_guard{&fa};
  for (int i = 0; i < 3; ++i) {
    if (modes[i] == Stdio::kPipe) {
      // The child's end: the read end for stdin, the write end for stdout/stderr.
      ::posix_spawn_file_actions_adddup2(&fa, pipes[i].fd[i == 0 ? 0 : 1], i);
    } else if (modes[i] == Stdio::kNull) {
      ::posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
    }
  }
  if (!cmd.cwd.empty()) ::posix_spawn_file_actions_addchdir_np(&fa, cmd.cwd.c_str());

  // argv and envp
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(cmd.program.c_str()));
  for (const auto& a : cmd.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::map<std::string, std::string> env;
  if (!cmd.clear_env) {
    for (char** e = environ; e && *e; ++e) {
      std::string_view kv(*e);
      auto eq = kv.find('=');
      if (eq != std::string_view::npos) env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
    }
  }
  for (const auto& [k, v] : cmd.env) env[k] = v;
  std::vector<std::string> env_strings;
  env_strings.reserve(env.size());
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  posix_spawnattr_t attr;
  ::posix_spawnattr_init(&attr);
  // The child starts with default signal dispositions and an empty mask (ours may block signals).
  sigset_t all, none;
  ::sigfillset(&all);
  ::sigemptyset(&none);
  ::posix_spawnattr_setsigdefault(&attr, &all);
  ::posix_spawnattr_setsigmask(&attr, &none);
  ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, cmd.program.c_str(), &fa, &attr, argv.data(), envp.data());
  ::posix_spawnattr_destroy(&attr);
  if (rc != 0) throw Error(rc, what);

  Child c;
  c.pid_ = pid;
  c.program_ = cmd.program;
  int pfd = pidfd_open(pid);
  if (pfd >= 0) {
    ::fcntl(pfd, F_SETFD, FD_CLOEXEC);
    c.pidfd_ = ::tether::detail::AsyncFd(pfd, ::tether::detail::FdKind::kPipe, "pid " + std::to_string(pid));
  }
  std::string tag = " of pid " + std::to_string(pid) + " (" + cmd.program + ")";
  if (modes[0] == Stdio::kPipe) c.in.emplace(pipes[0].take(1), "stdin" + tag);
  if (modes[1] == Stdio::kPipe) c.out.emplace(pipes[1].take(0), "stdout" + tag);
  if (modes[2] == Stdio::kPipe) c.err.emplace(pipes[2].take(0), "stderr" + tag);
  return c;  // the child's ends close with `pipes`
}

namespace {

Task<std::string> drain(PipeReader r, Deadline deadline) { co_return co_await r.read_to_end(deadline); }

}  // namespace

Task<Output> run(Command cmd, Deadline deadline) {
  cmd.in = Stdio::kNull;
  cmd.out = Stdio::kPipe;
  cmd.err = Stdio::kPipe;
  Child child = spawn(cmd);
  auto out = tether::spawn(drain(std::move(*child.out), deadline));
  auto err = tether::spawn(drain(std::move(*child.err), deadline));
  Output o;
  o.status = co_await child.wait(deadline);
  o.out = co_await out;
  o.err = co_await err;
  co_return o;
}

}  // namespace tether::io
